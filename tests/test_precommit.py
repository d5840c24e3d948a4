"""The pre-commit hook works for real: a staged bad file fails the commit, a clean one passes."""

import os
import shutil
import subprocess
import sys

import pytest

from static_support import ROOT

pytestmark = pytest.mark.slow

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
GOOD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad_(False)\n"


def _git(cwd, *args, check=True):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    if shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("needs git and a git checkout of freezelint")
    pre_commit = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or shutil.which("pre-commit")
    if pre_commit is None:
        pytest.skip("pre-commit is not installed (it comes with the dev extra)")
    # pre-commit installs the hook from a commit: snapshot this working tree into a throwaway repo
    src = tmp_path_factory.mktemp("hooksrc")
    files = subprocess.run(
        ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        if os.path.isfile(os.path.join(ROOT, rel)):
            os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(src, rel))
    _git(src, "init", "-q")
    _git(src, "add", "-A")
    _git(src, "commit", "-qm", "snapshot")
    rev = _git(src, "rev-parse", "HEAD").stdout.strip()

    work = tmp_path_factory.mktemp("userrepo")
    _git(work, "init", "-q")
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n      - id: freezelint\n"
    )
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path_factory.mktemp("pchome")))
    subprocess.run([pre_commit, "install"], cwd=work, env=env, check=True, capture_output=True)
    return work, env


def _commit(work, env):
    return subprocess.run(
        ["git", "commit", "-m", "change"],
        cwd=work,
        env=dict(env, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e"),
        capture_output=True,
        text=True,
    )


def test_hook_blocks_bad_and_passes_good(hook_repo):
    work, env = hook_repo
    (work / "README.txt").write_text("no python here\n")
    _git(work, "add", "README.txt", ".pre-commit-config.yaml")
    res = _commit(work, env)
    assert res.returncode == 0, res.stdout + res.stderr  # zero staged Python files

    (work / "train.py").write_text(BAD)
    _git(work, "add", "train.py")
    res = _commit(work, env)
    assert res.returncode != 0
    assert "train.py:4:1: FRZ001" in res.stdout + res.stderr

    (work / "train.py").write_text(GOOD)
    _git(work, "add", "train.py")
    res = _commit(work, env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_hook_passes_force_exclude():
    import yaml

    with open(os.path.join(ROOT, ".pre-commit-hooks.yaml"), encoding="utf-8") as fh:
        (hook,) = yaml.safe_load(fh)
    assert "--force-exclude" in hook["entry"].split() + hook.get("args", [])


def test_hook_honours_excludes_and_still_blocks(hook_repo):
    work, env = hook_repo
    (work / "pyproject.toml").write_text('[tool.freezelint]\nextend-exclude = ["legacy"]\n')
    (work / "legacy" / "old").mkdir(parents=True)
    (work / "legacy" / "old" / "model.py").write_text(BAD)  # pre-commit names it: --force-exclude skips it
    _git(work, "add", "pyproject.toml", "legacy")
    res = _commit(work, env)
    assert res.returncode == 0, res.stdout + res.stderr

    (work / "legacy" / "old" / "model.py").write_text(BAD + "model.requires_grad_ = False\n")
    (work / "finetune.py").write_text(BAD)
    _git(work, "add", "legacy", "finetune.py")
    res = _commit(work, env)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "finetune.py:4:1: FRZ001" in out and "legacy" not in out
