"""The runtime codes: metadata and user documentation (`freezelint explain FRZ5xx`)."""

import re

from freezelint.findings import Severity
from freezelint.runtime.codes import RUNTIME_CODES, RUNTIME_INFO

SECTIONS = ["## What it does", "## Why is this bad?", "## Example", "## Use instead"]


def test_thirteen_codes_in_order():
    assert [r.code for r in RUNTIME_CODES] == [f"FRZ5{i:02d}" for i in range(1, 14)]
    assert len({r.name for r in RUNTIME_CODES}) == 13
    assert RUNTIME_INFO["FRZ502"].name == "frozen-param-changed"


def test_metadata():
    for r in RUNTIME_CODES:
        assert (r.kind, r.default_enabled, r.fixable) == ("runtime", True, None), r.code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", r.name), r.code
        assert r.short_doc and r.summary.endswith("."), r.code
    warnings = {r.code for r in RUNTIME_CODES if r.severity == Severity.WARNING}
    assert warnings == {"FRZ506", "FRZ507", "FRZ508", "FRZ513"}


def test_docs_have_the_four_sections_in_order_with_code():
    for r in RUNTIME_CODES:
        positions = [r.doc.find(s) for s in SECTIONS]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), r.code
        example = r.doc[positions[2]:positions[3]]
        use_instead = r.doc[positions[3]:]
        assert "```python" in example and "```python" in use_instead, r.code


def test_registry_lists_runtime_codes():
    from freezelint.registry import all_rules

    rules = all_rules()
    for r in RUNTIME_CODES:
        assert rules[r.code] == r
