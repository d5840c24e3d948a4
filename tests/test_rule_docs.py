"""Each rule's documentation is a test: its Example triggers it, its Use-instead does not
(Fixit's VALID/INVALID guarantee, without test code hidden in strings)."""

import re

import pytest

from static_support import lint_findings
from freezelint.registry import all_rules
from freezelint.static.rules import load_rules
from freezelint.static.rules.base import Rule

SECTIONS = ["## What it does", "## Why is this bad?", "## Example", "## Use instead"]
STATIC_RULES = load_rules()


def _code_block(doc, section):
    part = doc.split(section, 1)[1]
    m = re.search(r"```python\n(.*?)```", part, re.S)
    assert m, f"no python example under {section}"
    return m.group(1)


def _codes_found(rule, source):
    return {f.code for f in lint_findings(source, rule.code, "example.py")}


@pytest.mark.parametrize("rule", STATIC_RULES, ids=lambda r: r.code)
def test_docs_have_every_section(rule):
    doc = rule.info().doc
    positions = [doc.find(s) for s in SECTIONS]
    assert -1 not in positions and positions == sorted(positions)
    assert rule.code.startswith("FRZ") and re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name)
    has_prefilter = rule.triggers or rule.trigger_pattern is not None or rule.might_fire.__func__ is not Rule.might_fire.__func__
    assert has_prefilter, "a rule without triggers defeats the prefilter"


@pytest.mark.parametrize("rule", STATIC_RULES, ids=lambda r: r.code)
def test_example_triggers_and_use_instead_does_not(rule):
    doc = rule.info().doc
    assert _codes_found(rule, _code_block(doc, "## Example")) == {rule.code}
    assert _codes_found(rule, _code_block(doc, "## Use instead")) == set()


def test_codes_are_unique_and_documented():
    rules = all_rules()
    assert "FRZ000" in rules
    for code, info in rules.items():
        assert info.summary and info.doc, code
