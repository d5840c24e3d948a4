"""`watch()`: audit the next optimizer step(s) of a live session (a Jupyter kernel), then show the report.

    from freezelint.runtime import watch; watch()

The same step finder as `freezelint run` (`run_hooks.Runner`), the same intent: `frozen=` /
`trainable=` / `ignore=`, `[tool.freezelint.audit]` of the working directory's pyproject.toml, and what
the static pass reads as freezes in the cells run so far (IPython's `In`). When the audits close, the
report is displayed (HTML in Jupyter, text elsewhere) and returned by `Watch.report`.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

from freezelint.runtime.run_hooks import Runner
from freezelint.runtime.run_report import RunReport

_CURRENT: List["Watch"] = []


def _cells_text() -> Optional[str]:
    main = sys.modules.get("__main__")
    cells = getattr(main, "In", None)
    if not isinstance(cells, list):
        return None
    return "\n".join(c for c in cells if isinstance(c, str) and not c.lstrip().startswith(("%", "!")))


def _notebook_declarations() -> list:
    text = _cells_text()
    if not text:
        return []
    # static.intent is the static pass's public reading of intent (plain records, no parser object crosses).
    from freezelint.static.run.intent import read_text_intent

    return read_text_intent(text, "<cells>")


class Watch:
    """A running `watch()`: `.report` once the audited steps are done, `.stop()` to give up."""

    def __init__(self, runner: Runner, show: bool):
        self.runner = runner
        self.show = show
        self.report: Optional[RunReport] = None

    def _done(self, runner: Runner) -> None:
        self.report = RunReport(runner.records, runner.notes, runner.steps)
        if self.show:
            _display(self.report)

    def stop(self) -> Optional[RunReport]:
        if self.report is None:
            self.runner.active = False
            self.runner.finish()
            self.report = RunReport(self.runner.records, self.runner.notes, self.runner.steps)
        return self.report

    def _repr_html_(self) -> str:
        return self.report._repr_html_() if self.report is not None else "<p>freezelint: watching the next optimizer step</p>"


def _display(report: RunReport) -> None:
    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None:
        from IPython.display import display  # type: ignore[import-not-found]

        display(report)
    else:
        print(report, file=sys.stderr)


def watch(
    *,
    frozen: Any = None,
    trainable: Any = None,
    ignore: Any = None,
    steps: int = 0,
    static: bool = True,
    show: bool = True,
) -> Watch:
    """Audit the next step of each optimizer (and the first after a requires_grad change; every `steps`-th
    with `steps=N`) and display the report when done. A second `watch()` replaces the first."""
    import os

    from freezelint.runtime.run_config import config_selectors

    while _CURRENT:
        _CURRENT.pop().stop()
    user = config_selectors(os.getcwd(), frozen=frozen, trainable=trainable, ignore=ignore)
    holder: List[Watch] = []
    runner = Runner(_notebook_declarations if static else (lambda: []), user, steps_every=steps,
                    on_done=lambda r: holder[0]._done(r))
    w = Watch(runner, show)
    holder.append(w)
    runner.install()
    _CURRENT.append(w)
    return w


__all__ = ["Watch", "watch"]
