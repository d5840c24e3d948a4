"""GitHub Actions workflow commands: one `::error` annotation per finding."""

from __future__ import annotations

from typing import Optional, Sequence

from freezelint.findings import Finding, Severity
from freezelint.report.file_places import FilePlaces, RawSource, cell_prefix


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[Finding], raw_of: Optional[RawSource] = None) -> str:
    """`raw_of(path)`: a notebook's JSON text (default: read from disk). A notebook finding points at
    its line in that text (what GitHub shows of the file); the message starts with its cell and line."""
    places = FilePlaces(raw_of)
    out = []
    for f in findings:
        level = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(f.severity, "notice")
        title = _escape_prop(f"freezelint ({f.code})")
        if f.source == "static":
            span = places.span(f)
            where = f",line={span[0]},col={span[1]},endLine={span[2]},endColumn={span[3]}" if span else ""
            props = f"file={_escape_prop(f.path)}{where},title={title}"
            msg = cell_prefix(f) + f.message
        else:
            props = f"title={title}"
            msg = f"{f.obj}: {f.message}" if f.obj else f.message
        out.append(f"::{level} {props}::{_escape_data(msg)}")
    return "\n".join(out) + ("\n" if out else "")
