"""Every fixture under fixtures/static is linted and compared with its `# expect:` markers.

The comparison is exact: every unmarked line is a negative test. A fixture
`X.py` with a sibling `X.fixed.py` is also a fix round-trip test.
"""

import glob
import os

import pytest

from static_support import FIXTURES, lint_findings
from fixture_markers import expected, options
from freezelint.static.fix.fixer import fix_text
from freezelint.static.rules import load_rules
from freezelint.static.input.torch_target import parse_version

FIXTURE_FILES = sorted(
    p for p in glob.glob(os.path.join(FIXTURES, "**", "*.py"), recursive=True) if not p.endswith(".fixed.py")
)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_fixture_findings_match_markers(path):
    text = open(path, encoding="utf-8").read()
    opts = options(text)
    torch = parse_version(opts["target-torch-version"]) if "target-torch-version" in opts else None
    got = {(f.line, f.code) for f in lint_findings(text, opts.get("select", "ALL"), path, torch)}
    assert got == expected(text)


FIXED = [p for p in FIXTURE_FILES if os.path.exists(p[:-3] + ".fixed.py")]


@pytest.mark.parametrize("path", FIXED, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_fix_round_trip(path):
    text = open(path, encoding="utf-8").read()
    opts = options(text)
    unsafe = opts.get("unsafe-fixes") == "true"
    lint = lambda t: lint_findings(t, opts.get("select", "ALL"), path)  # noqa: E731
    result = fix_text(path, text, lint, unsafe)
    assert result.text == open(path[:-3] + ".fixed.py", encoding="utf-8").read()
    again = fix_text(path, result.text, lint, unsafe)
    assert again.fixed == 0 and again.text == result.text


def test_every_rule_has_a_fixture():
    names = {os.path.basename(p)[:-3] for p in FIXTURE_FILES}
    missing = [r.code for r in load_rules() if r.code not in names]
    assert missing == []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_correct_sections_hold_only_correct_code(path):
    """A `# --- correct code` section is a negative test: no line in it may expect a finding."""
    import re

    in_correct, marked = False, []
    for lineno, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        if line.startswith("# ---"):
            in_correct = "correct" in line.lower()
        elif in_correct and re.search(r"#\s*expect:", line):
            marked.append(lineno)
    assert marked == []


def test_every_fixable_rule_has_a_fix_round_trip():
    have = {os.path.basename(p)[:-3] for p in FIXED}
    missing = [r.code for r in load_rules() if r.fixable and r.code not in have]
    assert missing == []


SNAPSHOTS = os.path.join(FIXTURES, "snapshots")


def _snapshot_of(path):
    text = open(path, encoding="utf-8").read()
    opts = options(text)
    torch = parse_version(opts["target-torch-version"]) if "target-torch-version" in opts else None
    out = []
    for f in lint_findings(text, opts.get("select", "ALL"), path, torch):
        item = {
            "code": f.code,
            "range": [f.line, f.col, f.end_line, f.end_col],
            "severity": f.severity.value,
            "message": f.message,
        }
        if f.fix is not None:
            item["fix"] = f.fix.to_json()
        out.append(item)
    return out


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_fixture_snapshot(path):
    """Messages, ranges, severities and fix edits, as ruff's fixture snapshots.
    After a deliberate change: FREEZELINT_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_fixtures.py, then review the diff."""
    import json

    snap = os.path.join(SNAPSHOTS, os.path.relpath(path, FIXTURES)[:-3] + ".json")
    got = _snapshot_of(path)
    if os.environ.get("FREEZELINT_UPDATE_SNAPSHOTS"):
        os.makedirs(os.path.dirname(snap), exist_ok=True)
        with open(snap, "w", encoding="utf-8") as fh:
            json.dump(got, fh, indent=1, sort_keys=True)
            fh.write("\n")
    with open(snap, encoding="utf-8") as fh:
        assert got == json.load(fh)
