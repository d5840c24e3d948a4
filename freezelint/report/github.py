"""GitHub Actions workflow commands: one `::error` annotation per finding."""

from __future__ import annotations

from typing import Sequence

from freezelint.findings import Finding, Severity


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[Finding]) -> str:
    out = []
    for f in findings:
        level = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(f.severity, "notice")
        title = _escape_prop(f"freezelint ({f.code})")
        if f.source == "static":
            props = (
                f"file={_escape_prop(f.path)},line={f.line},col={f.col},"
                f"endLine={f.end_line},endColumn={f.end_col},title={title}"
            )
            msg = f.message
        else:
            props = f"title={title}"
            msg = f"{f.obj}: {f.message}" if f.obj else f.message
        out.append(f"::{level} {props}::{_escape_data(msg)}")
    return "\n".join(out) + ("\n" if out else "")
