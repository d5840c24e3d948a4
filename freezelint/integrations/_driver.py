"""What both trainer callbacks share: when to audit, and what to do with the report.

An audit opens at the start of a training step (a batch, or an accumulation
window in the HF Trainer) and closes at the end of the first batch after which
an optimizer step has run, so gradient accumulation is audited over the whole
window. It never restores: the audited step is the trainer's real step.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional

from freezelint.runtime.report import AuditReport, FreezeAuditError, check_fail_on, summary_line
from freezelint.runtime.selectors import SelectorArg

LOG = logging.getLogger("freezelint")
ACTIONS = ("raise", "log")


class AuditDriver:
    def __init__(
        self,
        *,
        frozen: SelectorArg = None,
        trainable: SelectorArg = None,
        ignore: SelectorArg = None,
        every_n_steps: int = 0,
        fail_on: Optional[str] = "error",
        on_failure: str = "raise",
    ):
        if not isinstance(every_n_steps, int) or isinstance(every_n_steps, bool) or every_n_steps < 0:
            raise ValueError("every_n_steps= takes an integer >= 0 (0: audit the first step only)")
        if on_failure not in ACTIONS:
            raise ValueError(f"on_failure= takes 'raise' or 'log', got {on_failure!r}")
        self.options = {"frozen": frozen, "trainable": trainable, "ignore": ignore}
        self.every_n_steps = every_n_steps
        self.fail_on = check_fail_on(fail_on)
        self.on_failure = on_failure
        self.reports: List[AuditReport] = []
        self._audit: Any = None
        self._done_steps: set = set()
        self._max_batches = 1

    @property
    def active(self) -> bool:
        return self._audit is not None

    def wants(self, global_step: int) -> bool:
        """Audit this step? The first one seen (also after resuming), then every N-th."""
        if self.active or global_step in self._done_steps:
            return False
        if not self._done_steps:
            return True
        return bool(self.every_n_steps) and global_step % self.every_n_steps == 0

    def begin(self, model: Any, optimizers: Any, global_step: int, max_batches: int = 1) -> None:
        from freezelint.runtime.audit import FreezeAudit

        self._done_steps.add(global_step)
        self._batches = 0
        self._max_batches = max(1, int(max_batches))
        audit = FreezeAudit(model, optimizers, restore=False, **self.options)
        audit.__enter__()
        self._audit = audit

    def batch_end(self) -> Optional[AuditReport]:
        """Close the audit once an optimizer step ran (or after max_batches without one)."""
        if self._audit is None:
            return None
        self._batches += 1
        if self._audit.steps_seen == 0 and self._batches < self._max_batches:
            return None
        return self.end()

    def end(self) -> Optional[AuditReport]:
        audit, self._audit = self._audit, None
        if audit is None:
            return None
        audit.__exit__(None, None, None)
        report = audit.report
        self.reports.append(report)
        self._handle(report)
        return report

    def abort(self, exc: BaseException) -> None:
        """The trainer raised: remove the hooks, keep what was found."""
        audit, self._audit = self._audit, None
        if audit is not None:
            audit.__exit__(type(exc), exc, exc.__traceback__)
            if audit.report is not None:
                self.reports.append(audit.report)

    def _handle(self, report: AuditReport) -> None:
        if not report.findings:
            LOG.info("freezelint: freeze audit passed")
            return
        if self.fail_on is not None and report.failed(self.fail_on) and self.on_failure == "raise":
            raise FreezeAuditError(report)
        level = logging.ERROR if report.errors else logging.WARNING
        LOG.log(level, "freezelint: freeze audit\n%s%s\n%s", report.render("text"), report.summary(), summary_line(report.findings))


__all__ = ["AuditDriver"]
