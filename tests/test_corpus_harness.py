"""benchmarks/corpus.py on a tiny labelled corpus of our own: found, missed, flagged, notebook lines, bad input."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "corpus.py"

# the same two files as the realworld harness' tests: a module-level FRZ001 at line 12, and a correct freeze
from test_realworld_harness import CLEAN as CORRECT  # noqa: E402
from test_realworld_harness import FROZEN_ATTR as BUGGY  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    spec = importlib.util.spec_from_file_location("corpus_harness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus_harness"] = module
    spec.loader.exec_module(module)
    return module


def write_corpus(tmp_path: Path, rows: list) -> Path:
    tsv = tmp_path / "CORPUS.tsv"
    head = "repo\tpath\tcommit\tline\tgroup\tkind\tscope\tevidence\tnote\n"
    tsv.write_text(head + "".join("\t".join(map(str, r)) + "\tx\tx\n" for r in rows), encoding="utf-8")
    return tsv


def test_scores_found_missed_and_flagged(corpus, tmp_path):
    repos = tmp_path / "repos"
    root = repos / "me+proj@abc"
    root.mkdir(parents=True)
    (root / "buggy.py").write_text(BUGGY, encoding="utf-8")
    (root / "ok.py").write_text(CORRECT, encoding="utf-8")
    tsv = write_corpus(tmp_path, [
        ("me/proj", "buggy.py", "abc", 10, "bug", "module-attr", "line"),   # finding at 12: within 3
        ("me/proj", "buggy.py", "abc", 1, "bug", "far-away", "line"),       # 11 lines off: missed
        ("me/proj", "buggy.py", "abc", 1, "bug", "ordering", "file"),       # file scope: found
        ("me/proj", "ok.py", "abc", 4, "ok", "correct-freeze", "line"),     # nothing reported
        ("me/proj", "buggy.py", "abc", 12, "ok", "look-alike", "line"),     # a finding there: flagged
    ])
    out = tmp_path / "scores.md"
    dump = tmp_path / "rows.json"
    assert corpus.main(["--repos", str(repos), "--tsv", str(tsv), "--output", str(out), "--json", str(dump)]) == 0
    rows = {(r["kind"]): r["hit"] for r in json.loads(dump.read_text())}
    assert rows == {"module-attr": True, "far-away": False, "ordering": True,
                    "correct-freeze": False, "look-alike": True}
    text = out.read_text()
    assert "Bugs found: 2 of 3 (67%). Correct rows flagged: 1 of 2." in text
    assert "- MISSED [bug far-away] me/proj `buggy.py:1`" in text
    assert "FRZ001@12" in text


def test_notebook_cell_lines_map_to_json_lines(corpus):
    nb = json.dumps({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# title\n"]},
        {"cell_type": "code", "metadata": {}, "source": ["import torch\n", "x = 1\n", "y = 2"]},
    ]}, indent=1)
    table = corpus.notebook_source_lines(nb)
    lines = nb.splitlines()
    assert lines[table[(2, 2)] - 1].strip() == '"x = 1\\n",'
    assert lines[table[(1, 1)] - 1].strip() == '"# title\\n"'


def test_layout_missing_is_one_line_exit_2(corpus, tmp_path, capsys):
    tsv = write_corpus(tmp_path, [("me/proj", "a.py", "abc", 1, "bug", "k", "line")])
    assert corpus.main(["--repos", str(tmp_path / "none"), "--tsv", str(tsv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "build_repos.sh" in err[0]
