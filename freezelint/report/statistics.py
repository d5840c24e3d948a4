"""`--statistics`: a count per rule, as a table or (with `--output-format json`) as JSON."""

from __future__ import annotations

import json
from collections import Counter
from typing import List, Sequence

from freezelint.findings import Finding


def rows(findings: Sequence[Finding]) -> List[dict]:
    counts = Counter((f.code, f.name) for f in findings)
    fixable = Counter(f.code for f in findings if f.fix is not None and f.fix.applicability.value == "safe")
    return [
        {"code": code, "name": name, "count": n, "fixable": fixable[code] > 0, "fixable_count": fixable[code]}
        for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def render(findings: Sequence[Finding], fmt: str) -> str:
    table = rows(findings)
    if fmt == "json":
        return json.dumps(table, indent=2) + "\n"
    return "".join(
        f"{r['count']:>5}\t{r['code']}\t{'[*] ' if r['fixable'] else ''}{r['name']}\n" for r in table
    )
