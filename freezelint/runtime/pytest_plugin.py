"""pytest plugin (entry point `pytest11`): the `freeze_audit` fixture.

    def test_backbone_stays_frozen(freeze_audit):
        model, opt, step = build()
        freeze_audit(model, opt, step, frozen=["backbone"])

The test fails with the findings printed as `freezelint audit` prints them. The
fixture returns the Report, so a test can also assert on warnings.

pytest loads this module in every session of every user who installs
freezelint: it must not import torch here. torch is imported when the fixture
is first called.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import pytest


def _fail_message(report: Any) -> str:
    from freezelint.report.text import summary

    return (
        "freezelint audit found freezing errors:\n"
        + report.render("text")
        + "\n"
        + report.summary()
        + "\n"
        + summary(report.findings)
    )


@pytest.fixture
def freeze_audit() -> Callable[..., Any]:
    """Audit one training step: `freeze_audit(model, optimizer, step, frozen=[...])`.

    Keyword arguments: `frozen`, `trainable`, `restore` (default True) and
    `fail_on` ("error", the default; "warning" also fails on warnings; None never
    fails). Returns the `freezelint.runtime.Report`.
    """

    def run(
        model: Any,
        optimizer: Any,
        step: Callable[[], Any],
        frozen: Optional[Sequence[str]] = None,
        trainable: Optional[Sequence[str]] = None,
        *,
        restore: Any = True,
        fail_on: Optional[str] = "error",
    ) -> Any:
        from freezelint.runtime import audit_step

        report = audit_step(model, optimizer, step, frozen=frozen, trainable=trainable, restore=restore)
        if fail_on == "error" and not report.ok:
            pytest.fail(_fail_message(report), pytrace=False)
        if fail_on == "warning" and report.findings:
            pytest.fail(_fail_message(report), pytrace=False)
        return report

    return run
