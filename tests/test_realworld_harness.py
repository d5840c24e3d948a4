"""benchmarks/realworld.py on a tiny corpus of our own: merge, judgements, report, --check, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "realworld.py"


@pytest.fixture(scope="module")
def realworld():
    spec = importlib.util.spec_from_file_location("realworld_harness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FROZEN_ATTR = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)


model = Net()
model.backbone.requires_grad = False
"""

CLEAN = """\
import torch.nn as nn

model = nn.Linear(4, 2)
model.requires_grad_(False)
"""


@pytest.fixture
def corpus(tmp_path):
    """Two fake repositories: `acme/bad` with one FRZ001 finding, `acme/good` with none."""
    root = tmp_path / "corpus"
    (root / "acme__bad" / "pkg").mkdir(parents=True)
    (root / "acme__bad" / "pyproject.toml").write_text("[project]\nname = 'bad'\n")
    (root / "acme__bad" / "pkg" / "train.py").write_text(FROZEN_ATTR)
    (root / "acme__good").mkdir()
    (root / "acme__good" / "setup.py").write_text("")
    (root / "acme__good" / "probe.py").write_text(CLEAN)
    manifest = tmp_path / "repos.json"
    manifest.write_text(json.dumps([
        {"repo": "acme/bad", "commit": "a" * 40, "folder": "acme__bad", "devset": True},
        {"repo": "acme/good", "commit": "b" * 40, "folder": "acme__good", "devset": False},
    ]))
    misses = tmp_path / "misses.md"
    misses.write_text("- acme/good `probe.py:4`: a hand-written miss, kept verbatim.\n")
    return tmp_path


def harness_args(tmp, *extra):
    return ["--corpus", str(tmp / "corpus"), "--manifest", str(tmp / "repos.json"),
            "--judgements", str(tmp / "judged.json"), "--misses", str(tmp / "misses.md"),
            "--output", str(tmp / "REPORT.md"), *extra]


def judge(tmp, verdict, line=12, code="FRZ001"):
    (tmp / "judged.json").write_text(json.dumps([
        {"repo": "acme/bad", "path": "pkg/train.py", "line": line, "code": code,
         "verdict": verdict, "reason": "backbone is an nn.Linear: a plain attribute freezes nothing"},
    ]))


def test_unjudged_finding_is_reported_and_fails_check(realworld, corpus):
    assert realworld.main(harness_args(corpus, "--check")) == 1
    report = (corpus / "REPORT.md").read_text()
    assert "**UNJUDGED** `pkg/train.py:12` FRZ001" in report
    row = next(l for l in report.splitlines() if l.startswith("| acme/bad |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # repo, commit, set, .py, .ipynb, findings, TRUE, TRUE-LOW, FALSE, UNJUDGED, FRZ000, time
    assert cells[2:11] == ["dev", "1", "0", "1", "0", "0", "0", "1", "0"]
    assert "- acme/good `probe.py:4`: a hand-written miss, kept verbatim." in report
    result = json.loads((corpus / "corpus" / ".freezelint-realworld" / "acme__bad.json").read_text())
    assert result["findings"][0]["path"] == "pkg/train.py"


def test_true_judgement_is_merged_and_passes_check(realworld, corpus):
    judge(corpus, "TRUE")
    assert realworld.main(harness_args(corpus, "--check")) == 0
    report = (corpus / "REPORT.md").read_text()
    assert "**TRUE** `pkg/train.py:12` FRZ001: backbone is an nn.Linear" in report
    assert "UNJUDGED** " not in report


def test_false_judgement_fails_check(realworld, corpus):
    judge(corpus, "FALSE")
    assert realworld.main(harness_args(corpus, "--check")) == 1
    assert realworld.main(harness_args(corpus)) == 0


def test_judged_finding_that_vanished_is_listed(realworld, corpus):
    judge(corpus, "TRUE", line=99)
    realworld.main(harness_args(corpus))
    report = (corpus / "REPORT.md").read_text()
    gone = report.split("## Judged findings no longer reported")[1].split("## Misses")[0]
    assert "TRUE acme/bad `pkg/train.py:99` FRZ001" in gone
    assert "**UNJUDGED** `pkg/train.py:12`" in report


def test_only_keeps_earlier_results_of_other_repos(realworld, corpus):
    realworld.main(harness_args(corpus))
    (corpus / "corpus" / "acme__bad" / "pkg" / "train.py").write_text(CLEAN)
    realworld.main(harness_args(corpus, "--only", "acme/good"))
    report = (corpus / "REPORT.md").read_text()
    assert "`pkg/train.py:12` FRZ001" in report  # acme/bad was not re-linted


@pytest.mark.parametrize("content, message", [
    ('[{"repo": "acme/bad", "path": "p.py", "line": 1, "code": "FRZ001", "verdict": "MAYBE"}]', "is not one of"),
    ('{"not": "a list"}', "must be a list"),
    ("[{", "not valid JSON"),
])
def test_bad_judgements_exit_2_in_one_line(realworld, corpus, capsys, content, message):
    (corpus / "judged.json").write_text(content)
    assert realworld.main(harness_args(corpus)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unknown_only_and_missing_folder_exit_2(realworld, corpus, capsys):
    assert realworld.main(harness_args(corpus, "--only", "nobody/else")) == 2
    (corpus / "corpus" / "acme__good" / "probe.py").unlink()
    (corpus / "corpus" / "acme__good" / "setup.py").unlink()
    (corpus / "corpus" / "acme__good").rmdir()
    assert realworld.main(harness_args(corpus)) == 2
    assert "acme__good" in capsys.readouterr().err


def test_merge_keys_notebook_cells_and_duplicate_judgement(realworld, tmp_path):
    finding = realworld.normalise({"code": "FRZ101", "filename": "./nb.ipynb", "message": "m",
                                   "location": {"row": 3, "column": 1}, "cell": 2})
    assert (finding["path"], finding["line"]) == ("nb.ipynb", "2:3")
    path = tmp_path / "j.json"
    record = {"repo": "r", "path": "nb.ipynb", "line": "2:3", "code": "FRZ101", "verdict": "FALSE", "reason": "x"}
    path.write_text(json.dumps([record]))
    merged = realworld.merge("r", [finding], realworld.load_judgements(path))
    assert merged[0]["verdict"] == "FALSE"
    path.write_text(json.dumps([record, record]))
    with pytest.raises(realworld.InputError, match="judged twice"):
        realworld.load_judgements(path)
