"""What one audit found: `AuditReport`, its summary table and `FreezeAuditError`.

`AuditReport` is the runtime auditor's result (the static pass has its own
`freezelint.static.rules.base.Report`); both hold `freezelint.findings.Finding`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from freezelint.findings import Finding, Severity

FAIL_ON = ("error", "warning")


def check_fail_on(fail_on: Optional[str]) -> Optional[str]:
    """Validate a `fail_on=` argument: "error", "warning" or None (never fail)."""
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ValueError(f"fail_on= takes 'error', 'warning' or None, got {fail_on!r}")
    return fail_on


def summary_line(findings: Sequence[Finding]) -> str:
    """`Found 2 errors and 3 warnings.`: errors and warnings counted apart."""
    n_err = sum(1 for f in findings if f.severity == Severity.ERROR)
    n_warn = len(findings) - n_err
    if not findings:
        return "All checks passed!"
    parts = []
    if n_err:
        parts.append(f"{n_err} error{'s' if n_err != 1 else ''}")
    if n_warn:
        parts.append(f"{n_warn} warning{'s' if n_warn != 1 else ''}")
    return f"Found {' and '.join(parts)}."


class FreezeAuditError(AssertionError):
    """Raised by `AuditReport.raise_for_findings()` and by audits run with `fail_on=`."""

    def __init__(self, report: "AuditReport"):
        self.report = report
        self.findings = report.findings
        super().__init__("freeze audit failed:\n" + report.render("text").rstrip() + "\n" + summary_line(report.findings))


@dataclass(frozen=True)
class SummaryRow:
    """One row of `AuditReport.summary()`: a module (or a parameter on the root)."""

    name: str
    type: str
    trainable: int
    frozen: int
    trainable_bytes: int
    frozen_bytes: int
    mode: str = "train"  # "train", "eval" or "mixed" (its submodules differ)
    in_optimizer: int = 0  # parameters (elements) an optimizer holds


@dataclass(frozen=True)
class OptimizerRow:
    """What the optimizers hold, for the last line of the summary."""

    names: str  # optimizer class names
    groups: int
    trainable: int  # elements held that require grad
    frozen: int  # elements held that do not
    known: bool = True  # False: an optimizer without readable param_groups


def _count(n: int) -> str:
    for unit, div in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def _table(rows: Sequence[SummaryRow]) -> List[str]:
    head = ("", "Name", "Type", "Mode", "Trainable", "Frozen", "In optimizer", "Trainable size", "Frozen size")
    body = [
        (str(i), r.name, r.type, r.mode, _count(r.trainable), _count(r.frozen), _count(r.in_optimizer),
         _size(r.trainable_bytes), _size(r.frozen_bytes))
        for i, r in enumerate(rows)
    ]
    widths = [max(len(row[c]) for row in [head] + body) for c in range(len(head))]

    def fmt(row):
        return " | ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()

    return [fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in body]


class AuditReport:
    """What one audit found: `findings`, `ok`, `summary()`, `raise_for_findings()`.

    `unrestored`: parameters the step wrote that `restore=True` could not put back.
    `unchecked`: tensors whose bytes could not be compared (meta tensors), also
    reported as FRZ513.
    """

    def __init__(
        self,
        findings: Sequence[Finding],
        stats: Any = None,
        unrestored: Sequence[str] = (),
        *,
        optimizer_row: Optional[OptimizerRow] = None,
        unchecked: Sequence[str] = (),
    ):
        self.findings: List[Finding] = sorted(findings, key=lambda f: (f.code, f.obj or "", f.message))
        self._stats = stats  # summary_rows.ModelStats: rows at any depth
        self.rows: List[SummaryRow] = stats.rows() if stats is not None else []
        self.unrestored: List[str] = list(unrestored)
        self.unchecked: List[str] = list(unchecked)
        self.optimizer_row = optimizer_row

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.severity != Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> List[str]:
        """Sorted distinct codes, handy in tests: `assert report.codes == ["FRZ502"]`."""
        return sorted({f.code for f in self.findings})

    def by_code(self, code: str) -> List[Finding]:
        return [f for f in self.findings if f.code == code]

    def failed(self, fail_on: Optional[str] = "error") -> bool:
        """Would `fail_on` fail this report? ("error": any error; "warning": any finding.)"""
        check_fail_on(fail_on)
        if fail_on == "error":
            return bool(self.errors)
        if fail_on == "warning":
            return bool(self.findings)
        return False

    def raise_for_findings(self, fail_on: str = "error") -> None:
        """Raise `FreezeAuditError` when the report has errors (`fail_on="warning"`: any finding)."""
        if self.failed(fail_on):
            raise FreezeAuditError(self)

    def render(self, fmt: str = "text", color: bool = False) -> str:
        from freezelint.report import FORMATS, render

        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
        return render(self.findings, fmt, color=color)

    def summary(self, depth: Optional[int] = None) -> str:
        """Per module: mode, trainable / frozen / optimised parameter counts and sizes.

        `depth=None` picks the modules that make the model readable (see
        `summary_rows`); `depth=N` shows the modules N levels below the model."""
        rows = self.rows if depth is None or self._stats is None else self._stats.rows(depth)
        lines = _table(rows)
        t = sum(r.trainable for r in rows)
        fz = sum(r.frozen for r in rows)
        tb = sum(r.trainable_bytes for r in rows)
        fb = sum(r.frozen_bytes for r in rows)
        pct = 100.0 * t / (t + fz) if t + fz else 0.0
        lines.append(
            f"trainable params: {t:,} || frozen params: {fz:,} || all params: {t + fz:,} || "
            f"trainable%: {pct:.2f} || trainable size: {_size(tb)} || frozen size: {_size(fb)}"
        )
        o = self.optimizer_row
        if o is not None and o.known:
            lines.append(
                f"optimizer ({o.names}, {o.groups} param group{'s' if o.groups != 1 else ''}): holds "
                f"{o.trainable + o.frozen:,} params ({o.trainable:,} trainable, {o.frozen:,} frozen); "
                f"trainable but not held: {max(0, t - o.trainable):,}"
            )
        elif o is not None:
            lines.append(f"optimizer ({o.names}): its param groups cannot be read")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render("text") + self.summary() + "\n" + summary_line(self.findings)

    def __repr__(self) -> str:
        return f"AuditReport(ok={self.ok}, codes={self.codes}, findings={len(self.findings)})"


__all__ = ["AuditReport", "FreezeAuditError", "OptimizerRow", "SummaryRow", "summary_line"]
