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


def test_holdout_set_defaults_and_realworld_defaults_unchanged(realworld):
    here = SCRIPT.parent
    args = realworld.parse_args([])
    assert (args.corpus, args.manifest, args.output) == (
        "/work/scratch/realworld", str(here / "realworld_repos.json"), str(here / "REALWORLD.md"))
    assert args.judgements == str(here / "realworld_judgements.json")
    args = realworld.parse_args(["--set", "holdout", "--output", "x.md"])
    assert (args.corpus, args.manifest, args.judgements, args.misses, args.output) == (
        "/work/scratch/holdout", str(here / "holdout_repos.json"), str(here / "holdout_judgements.json"),
        str(here / "holdout_misses.md"), "x.md")


def test_holdout_report_has_its_own_title_kinds_and_no_corpus_appendix(realworld, corpus):
    manifest = json.loads((corpus / "repos.json").read_text())
    for entry in manifest:
        del entry["devset"]
        entry["kind"] = "LoRA" if entry["repo"] == "acme/bad" else "linear probe"
    (corpus / "repos.json").write_text(json.dumps(manifest))
    judge(corpus, "TRUE")
    assert realworld.main(harness_args(corpus, "--set", "holdout", "--check")) == 0
    report = (corpus / "REPORT.md").read_text()
    assert report.startswith("# Holdout measurement\n\nA holdout: public repositories")
    assert "--extract-from MIRROR" in report  # how the trees were laid out
    row = next(l for l in report.splitlines() if l.startswith("| acme/bad |"))
    assert [c.strip() for c in row.strip("|").split("|")][2] == "LoRA"
    assert "## Misses (found by reading)" in report
    scores = SCRIPT.parent / "corpus_scores.md"  # the realworld report appends it; the holdout one must not
    if scores.exists() and scores.read_text().strip():
        assert scores.read_text().strip().splitlines()[0] not in report
    assert realworld.main(harness_args(corpus)) == 0
    assert (corpus / "REPORT.md").read_text().startswith("# Real-world measurement\n\nPublic repositories")


def git(*args, cwd):
    import subprocess

    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def mirror(tmp_path):
    """A bare snapshot of `acme/tool` at MIRROR/acme+tool/repo: two files, a symlink; one blob deleted."""
    import os

    work = tmp_path / "work"
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "train.py").write_text(FROZEN_ATTR)
    (work / "big.json").write_text('{"weights": "not in a partial clone"}\n')
    os.symlink("pkg/train.py", work / "link.py")
    git("init", "-q", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "c", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work)
    big = git("rev-parse", "HEAD:big.json", cwd=work)
    root = tmp_path / "mirror"
    (root / "acme+tool").mkdir(parents=True)
    git("clone", "-q", "--bare", str(work), str(root / "acme+tool" / "repo"), cwd=tmp_path)
    (root / "acme+tool" / "repo" / "objects" / big[:2] / big[2:]).unlink()  # as a partial clone lacks large blobs
    return root, commit


def test_extract_from_lays_out_the_commit_without_missing_blobs_and_links(realworld, tmp_path, mirror, capsys):
    root, commit = mirror
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    manifest = tmp_path / "repos.json"
    manifest.write_text(json.dumps([{"repo": "acme/tool", "commit": commit, "folder": "acme__tool", "kind": "LoRA"}]))
    judged = tmp_path / "judged.json"
    judged.write_text(json.dumps([{"repo": "acme/tool", "path": "pkg/train.py", "line": 12, "code": "FRZ001",
                                   "verdict": "TRUE", "reason": "r"}]))
    args = ["--set", "holdout", "--corpus", str(corpus), "--manifest", str(manifest), "--judgements", str(judged),
            "--misses", str(tmp_path / "none.md"), "--output", str(tmp_path / "H.md"), "--extract-from", str(root)]
    assert realworld.main([*args, "--check"]) == 0
    tree = corpus / "acme__tool"
    assert (tree / "pkg" / "train.py").read_text() == FROZEN_ATTR
    assert not (tree / "big.json").exists() and not (tree / "link.py").exists()
    assert not (corpus / "acme__tool.part").exists()
    assert "1 files not in the snapshot" in capsys.readouterr().err
    assert "**TRUE** `pkg/train.py:12` FRZ001" in (tmp_path / "H.md").read_text()
    manifest.write_text(json.dumps([{"repo": "acme/tool", "commit": "f" * 40, "folder": "acme__other"}]))
    assert realworld.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "no snapshot of acme/tool at ffffffffff" in err and len(err.splitlines()) == 1
