"""Generated programs (hypothesmith): `check` never raises, its findings are
deterministic, and `--fix` output still parses and leaves nothing fixable."""

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from static_support import lint_findings  # noqa: E402
from freezelint.findings import Applicability  # noqa: E402
from freezelint.registry import all_rules  # noqa: E402
from freezelint.static.run import engine  # noqa: E402
from freezelint.static.fix.fixer import fix_text  # noqa: E402
from freezelint.static.input.source import Source, SourceError  # noqa: E402

ALL_CODES = frozenset(c for c, r in all_rules().items() if r.kind == "static")

# Generated code alone rarely contains the words the rules look for, so the
# prefilter would skip it: glue it to freezing code that makes every rule parse
# the whole file and gives the fixers something to do.
PRELUDE = (
    "import torch\nimport torch.nn as nn\n"
    "model = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
    "w = torch.zeros(3, require_grad=True)\n"
    "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "for p in model.parameters():\n    p.requires_grad = False\n"
)
CODA = "\nmodel.eval()\nmodel.requires_grad = True\ntorch.no_grad()\n"

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure reproduces, CI stays stable
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

programs = st.one_of(
    hypothesmith.from_grammar(),
    hypothesmith.from_node(),
).map(lambda code: st.sampled_from([code, PRELUDE + code, code + CODA, PRELUDE + code + CODA]))


def _compiles(text):
    try:
        compile(text, "gen.py", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


@FUZZ
@given(st.data())
def test_check_never_raises_and_is_deterministic(data):
    text = data.draw(data.draw(programs))
    first = engine.lint_source("gen.py", Source(text=text), ALL_CODES)  # what `check` runs per file
    hypothesis.event(f"findings {min(len(first.findings), 3)} error={first.error}")
    second = engine.lint_source("gen.py", Source(text=text), ALL_CODES)
    assert first.findings == second.findings
    assert first.error == second.error
    for f in first.findings:
        assert f.code in ALL_CODES | {"FRZ000"}
        assert 1 <= f.line <= f.end_line and f.col >= 1
        if f.code == "FRZ000":
            assert "internal error" not in f.message, f.message
    if first.error:
        # only text Python itself rejects may be FRZ000
        assert not _compiles(text) or "too deep" in first.findings[0].message, first.findings[0].message


@FUZZ
@given(st.data())
def test_fix_output_parses_and_leaves_nothing_fixable(data):
    import libcst

    text = data.draw(data.draw(programs))
    try:
        findings = lint_findings(text, path="gen.py")
    except SourceError:
        return  # not Python: nothing to fix
    crashes = []

    def lint(t):
        # fix_text stops quietly at a text it cannot lint (it keeps the last good
        # one), so a rule crashing on a fixed text would pass unseen: record it.
        try:
            return lint_findings(t, path="gen.py")
        except Exception as exc:
            crashes.append(f"{type(exc).__name__}: {exc}")
            raise

    fixed = fix_text("gen.py", text, lint, unsafe=True)
    assert crashes == [], crashes
    hypothesis.event(f"fixed {min(fixed.fixed, 3)}")
    assert compile(fixed.text, "gen.py", "exec", dont_inherit=True)
    libcst.parse_module(fixed.text)
    again = lint(fixed.text)
    assert again == fixed.findings
    assert [f for f in again if f.fix is not None] == []
    if fixed.fixed:
        assert fixed.text != text
    # a second fix pass is a no-op
    assert fix_text("gen.py", fixed.text, lint, unsafe=True).text == fixed.text
    # without --unsafe-fixes every safe fix is applied and only unsafe ones remain
    safe_only = fix_text("gen.py", text, lint, unsafe=False)
    assert [f.code for f in safe_only.findings if f.fix is not None and f.fix.applicability is not Applicability.UNSAFE] == []
    if any(f.fix is not None and f.fix.applicability is Applicability.SAFE for f in findings):
        assert safe_only.fixed > 0
    assert crashes == [], crashes
