"""A fix is safe only when the rewrite cannot change what other code observes."""

from static_support import lint_findings

from freezelint.findings import Applicability

FROZEN_ATTRIBUTE = """
import torch.nn as nn

model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
model.requires_grad = False
"""


def _fix_of(text):
    (finding,) = [f for f in lint_findings(text, "FRZ001") if f.code == "FRZ001"]
    return finding.fix


def test_frz001_fix_is_safe_when_nothing_reads_the_attribute():
    assert _fix_of(FROZEN_ATTRIBUTE).applicability is Applicability.SAFE


def test_frz001_fix_is_unsafe_when_the_attribute_is_read_back():
    text = FROZEN_ATTRIBUTE + "if not model.requires_grad:\n    print('frozen')\n"
    fix = _fix_of(text)
    assert fix.applicability is Applicability.UNSAFE
    assert "read elsewhere" in fix.message


def test_every_fixable_rule_documents_its_fix_safety():
    from freezelint.static.rules import load_rules

    missing = [r.code for r in load_rules() if r.fixable and "## Fix safety" not in (r.__doc__ or "")]
    assert missing == []


def test_frz001_self_reads_in_another_class_do_not_make_the_fix_unsafe():
    text = FROZEN_ATTRIBUTE + (
        "class Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.requires_grad = False\n\n"
        "class Option:\n    def __init__(self):\n        self.requires_grad = True\n    def on(self):\n        return self.requires_grad\n"
    )
    head = [f for f in lint_findings(text, "FRZ001") if f.line == 9]
    assert head and head[0].fix.applicability is Applicability.SAFE
