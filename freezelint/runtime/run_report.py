"""What `freezelint run` (and `watch()`) found: every audit of the run, joined.

Findings are the audits' (`AuditReport.findings`), those about a part the code declared frozen
naming the declaration's file:line; the same finding from two audits is printed once. The text
form adds, per audit, why it opened, the intent it checked and where each part of it came from.
"""

from __future__ import annotations

from typing import List, Sequence

from freezelint.findings import Finding, Severity
from freezelint.runtime.report import summary_line
from freezelint.runtime.run_hooks import AuditRecord

# Declarations left out for these reasons are listed (the others are about another model or part).
SHOWN_REASONS = ("runs only under", "frozen and unfrozen", "a later unfreeze", "the command line")
NOTHING_RAN = "no optimizer step ran: nothing audited"


class RunReport:
    """The audits of one run: `findings`, `ok`, `render(fmt)`, `text()`, and HTML in Jupyter."""

    def __init__(self, records: Sequence[AuditRecord], notes: Sequence[str] = (), steps: int = 0):
        self.records = list(records)
        self.notes = list(notes)
        self.steps = steps
        seen = set()
        out: List[Finding] = []
        for r in self.records:
            for f in r.findings:
                key = (f.code, f.obj, f.message)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
        self.findings: List[Finding] = out

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> List[str]:
        return sorted({f.code for f in self.findings})

    def render(self, fmt: str = "text", color: bool = False) -> str:
        from freezelint.report import render

        out = render(self.findings, fmt, color=color)
        if fmt == "text":
            out += ("\n" if out else "") + self.details()
        return out

    def details(self) -> str:
        """Per audit: trigger, model, intent and its sources; then the summary table of the last one."""
        lines: List[str] = []
        if not self.records:
            lines.append(NOTHING_RAN if not self.steps else "no audit completed")
        for r in self.records:
            lines.append(f"audited {r.trigger}: {r.model}, optimizers {', '.join(r.optimizers)}")
            lines.extend(intent_lines(r))
        lines.extend(f"note: {n}" for n in self.notes)
        if self.records:
            lines.append(self.records[-1].report.summary())
        return "\n".join(lines) + "\n"

    def summary_line(self) -> str:
        return summary_line(self.findings)

    def __str__(self) -> str:
        return self.render("text") + self.summary_line()

    def __repr__(self) -> str:
        return f"RunReport(ok={self.ok}, audits={len(self.records)}, codes={self.codes})"

    def _repr_html_(self) -> str:
        from freezelint.runtime.run_html import render_html

        return render_html(self, page=False)

    def html(self) -> str:
        from freezelint.runtime.run_html import render_html

        return render_html(self, page=True)


def intent_lines(r: AuditRecord) -> List[str]:
    out = []
    for sel, d in r.intent.applied:
        out.append(f"  declared {d.kind}: {sel} ({d.where}: `{d.code}`, {d.how})")
    for d, why in r.intent.skipped:
        if why.startswith(SHOWN_REASONS):
            out.append(f"  not applied: {d.where}: `{d.code}` ({why})")
    return out


__all__ = ["NOTHING_RAN", "RunReport", "intent_lines"]
