"""`# noqa` parsing: which comments suppress what, in any case, and never more than they say."""

import pytest

from static_support import lint_findings
from freezelint.static.run.suppression import ALL, parse_suppressions

BAD_LINE = "model.requires_grad = False"
PRELUDE = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\n"
OTHER = "other = nn.Linear(2, 2)\nother.requires_grad = False\n"  # a second FRZ001, lines 6-7 below


def _frz001_lines(text):
    return [f.line for f in lint_findings(text, "FRZ001")]


def test_unsuppressed_baseline():
    assert _frz001_lines(PRELUDE + BAD_LINE + "\n" + OTHER) == [4, 6]


@pytest.mark.parametrize(
    "comment",
    ["# noqa: FRZ001", "# Noqa: FRZ001", "# NOQA: frz001", "# nOqA:FRZ001", "# NoQA", "#noqa"],
)
def test_line_noqa_in_any_case(comment):
    text = PRELUDE + f"{BAD_LINE}  {comment}\n" + OTHER
    assert _frz001_lines(text) == [6]  # that line only
    assert 4 in parse_suppressions(text).lines


def test_a_noqa_for_another_code_does_not_suppress():
    assert _frz001_lines(PRELUDE + f"{BAD_LINE}  # NoQA: FRZ002\n") == [4]


@pytest.mark.parametrize("comment", ["# freezelint: noqa", "# FreezeLint: NOQA", "# flake8: noqa"])
def test_a_file_level_comment_on_its_own_line_suppresses_the_file(comment):
    text = f"{comment}\n" + PRELUDE + BAD_LINE + "\n" + OTHER
    assert _frz001_lines(text) == []
    assert parse_suppressions(text).file_codes is ALL


def test_a_file_level_comment_may_be_indented_and_name_codes():
    text = PRELUDE + "if True:\n    # freezelint: NoQA: frz001\n    pass\n" + BAD_LINE + "\n"
    assert parse_suppressions(text).file_codes == frozenset({"FRZ001"})
    assert _frz001_lines(text) == []


@pytest.mark.parametrize("comment", ["# freezelint: noqa", "# freezelint: noqa: FRZ001", "# FREEZELINT: NOQA"])
def test_a_file_level_comment_after_code_covers_its_line_only(comment):
    text = PRELUDE + f"{BAD_LINE}  {comment}\n" + OTHER
    sup = parse_suppressions(text)
    assert sup.file_codes == frozenset()
    assert _frz001_lines(text) == [6]  # the other finding is still reported
    assert sup.suppressed("FRZ001", 4) and not sup.suppressed("FRZ001", 6)


def test_noqa_inside_a_string_does_not_count():
    text = PRELUDE + f'{BAD_LINE}; s = "# NoQA: FRZ001"\n'
    assert _frz001_lines(text) == [4]
