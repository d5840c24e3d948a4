"""benchmarks/fixes_realworld.py on a tiny repository of our own, and REALWORLD.md including its section."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name + "_under_test", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixes():
    return _load("fixes_realworld")


# One FRZ101 with a fix (the module imports with torch alone), a file without findings, and
# one whose import fails before any fix (not counted as importable).
FREEZE_BY_EVAL = """\
import torch.nn as nn

backbone = nn.Linear(4, 4)
backbone.eval()  # freeze the backbone
head = nn.Linear(4, 2)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the importer forks")
def test_fixes_a_copy_and_counts_compile_relint_and_import(fixes, tmp_path):
    repo = tmp_path / "repos" / "acme__demo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "freeze.py").write_text(FREEZE_BY_EVAL)
    (repo / "pkg" / "broken.py").write_text("import no_such_module_here\n" + FREEZE_BY_EVAL)
    (repo / "clean.py").write_text("import torch.nn as nn\nm = nn.Linear(2, 2)\nm.requires_grad_(False)\n")
    (repo / "pkg" / "subscript.py").write_text("def freeze_first(model):\n    model.blocks[0].eval()\n")  # no fix
    work = tmp_path / "work"
    work.mkdir()
    rows, unfixed = [], []
    phases = fixes.measure(repo, work, rows, unfixed)
    assert set(phases) == {"lint", "import", "fix", "relint"}
    got = {r["file"]: r for r in rows}
    assert set(got) == {"pkg/freeze.py", "pkg/broken.py"}
    ok = got["pkg/freeze.py"]
    assert ok["fixable"] == {"FRZ101": 1} and ok["changed"] and ok["compiles"] and ok["relints_clean"]
    assert ok["imports_before"] is True and ok["imports_after"] is True
    assert got["pkg/broken.py"]["imports_before"] is False and got["pkg/broken.py"]["imports_after"] is None
    assert (repo / "pkg" / "freeze.py").read_text() == FREEZE_BY_EVAL  # the repository itself untouched
    assert "backbone.requires_grad_(False)" in (work / "acme__demo" / "pkg" / "freeze.py").read_text()
    assert [(u["file"], u["line"], u["code"]) for u in unfixed] == [("pkg/subscript.py", 2, "FRZ101")]
    assert (work / "acme__demo" / "pkg" / "subscript.py").read_text() == (repo / "pkg" / "subscript.py").read_text()
    page = fixes.report(rows, "python benchmarks/fixes_realworld.py", 60.0, unfixed)
    assert "| 2 | 2 | 2 | 2 | 1 | 1 |" in page and "0 files where a fix failed" in page
    assert "with a fix per rule: FRZ101 2," in page and "without one: FRZ101 1," in page
    assert "- acme__demo `pkg/subscript.py:2` FRZ101:" in page


def test_report_counts_a_failed_fix(fixes):
    row = {"repo": "r", "file": "a.py", "fixable": {"FRZ203": 1}, "left": {"FRZ203": 1}, "relints_clean": False,
           "changed": True, "compiles": True, "imports_before": True, "imports_after": False}
    page = fixes.report([row], "cmd", 1.0)
    assert "1 file where a fix failed" in page and "| FRZ203 1 | yes | FRZ203 1 | yes -> NO |" in page


def test_realworld_page_includes_the_fixes_section_after_the_corpus_scores():
    realworld = _load("realworld")
    page = realworld.render("cmd", [], {}, {}, "None.", "## Corpus scores\n", "## Statement fixes on real code\n")
    assert page.index("## Corpus scores") < page.index("## Statement fixes on real code")
    assert "Statement fixes" not in realworld.render("cmd", [], {}, {}, "None.", "## Corpus scores\n")


def test_importer_tells_a_failing_import_from_a_good_one_and_skips_notebooks(fixes, tmp_path):
    (tmp_path / "ok.py").write_text("X = 1\n")
    (tmp_path / "bad.py").write_text("raise RuntimeError('no')\n")
    assert fixes.imports(tmp_path, ["ok.py", "bad.py", "nb.ipynb"]) == {"ok.py": True, "bad.py": False}
