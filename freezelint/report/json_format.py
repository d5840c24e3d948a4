"""A JSON array with ruff's field names."""

from __future__ import annotations

import json
from typing import Optional, Sequence

from freezelint.findings import Finding


def finding_to_json(f: Finding, docs_url: Optional[str] = None) -> dict:
    from freezelint.registry import rule_url

    out = {
        "code": f.code,
        "name": f.name,
        "message": f.message,
        "filename": f.path if f.source == "static" else None,
        "cell": f.cell,  # notebooks: location rows count from the cell's first line (ruff's field)
        "location": {"row": f.line, "column": f.col} if f.source == "static" else None,
        "end_location": {"row": f.end_line, "column": f.end_col} if f.source == "static" else None,
        "severity": f.severity.value,
        "fix": None if f.fix is None else f.fix.to_json(),
        "url": rule_url(f.code, docs_url),
        "source": f.source,
    }
    if f.obj is not None:
        out["object"] = f.obj
    return out


def render(findings: Sequence[Finding], docs_url: Optional[str] = None) -> str:
    return json.dumps([finding_to_json(f, docs_url) for f in findings], indent=2) + "\n"
