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

from typing import Any, Callable, Optional

import pytest


def _fail_message(report: Any, fail_on: str) -> str:
    from freezelint.runtime.report import summary_line

    what = "freezing errors" if fail_on == "error" else "freezing findings"
    return f"freezelint audit found {what}:\n" + report.render("text") + "\n" + report.summary() + "\n" + summary_line(report.findings)


@pytest.fixture
def freeze_audit() -> Callable[..., Any]:
    """Audit one training step: `freeze_audit(model, optimizer, step, frozen=[...])`.

    Takes `audit_step`'s keyword arguments (`frozen`, `trainable`, `ignore`,
    `restore`, `chunk_bytes`) with the same defaults, except `fail_on`: "error"
    (the default) fails the test on errors, "warning" on any finding, None never.
    Returns the `freezelint.runtime.AuditReport`.
    """

    def run(model: Any, optimizer: Any, step: Callable[[], Any], *, fail_on: Optional[str] = "error", **options: Any) -> Any:
        from freezelint.runtime import audit_step
        from freezelint.runtime.report import check_fail_on

        check_fail_on(fail_on)
        report = audit_step(model, optimizer, step, **options)
        if fail_on is not None and report.failed(fail_on):
            pytest.fail(_fail_message(report, fail_on), pytrace=False)
        return report

    return run
