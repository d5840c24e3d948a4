"""A JSON array with ruff's field names."""

from __future__ import annotations

import json
from typing import Sequence

from freezelint.findings import Finding


def finding_to_json(f: Finding) -> dict:
    from freezelint.registry import DOCS_URL

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
        "url": f"{DOCS_URL}/{f.code}" if DOCS_URL else None,
        "source": f.source,
    }
    if f.obj is not None:
        out["object"] = f.obj
    return out


def render(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_to_json(f) for f in findings], indent=2) + "\n"
