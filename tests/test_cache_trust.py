"""The result cache against a repository prepared to abuse it (issue 14): it never
writes outside the project, never trusts a cache the repository ships, and its
keys survive a move or a CI restore at another path."""

import json
import os
import shutil
import subprocess

import pytest

from freezelint.static.run import cache as cache_mod
from freezelint.static.run import engine

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
GOOD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad_(False)\n"
FINDING = [("bad.py", "FRZ001", 4)]

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symlinks")


@pytest.fixture
def default_cache(monkeypatch):
    """The cache at its default place, `.freezelint_cache` at the project root."""
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)


@pytest.fixture
def linted(monkeypatch):
    """Names of the files actually linted, not answered from the cache (single process)."""
    calls = []
    real = engine.lint_file

    def spy(path, *args):
        calls.append(os.path.basename(path))
        return real(path, *args)

    monkeypatch.setattr(engine, "lint_file", spy)
    return calls


def _project(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bad.py").write_text(BAD)
    (folder / "good.py").write_text(GOOD)
    return folder


def _check(run_cli, folder, *args):
    """(exit code, findings, stderr) of `check .` run inside `folder`."""
    code, out, err = run_cli("check", ".", "--output-format", "json", *args, cwd=folder)
    assert code in (0, 1), err
    return code, [(os.path.basename(f["filename"]), f["code"], f["location"]["row"]) for f in json.loads(out)], err


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _hide_findings(folder):
    """What an attacker does on their own machine: run freezelint, empty every
    cached finding, and sign the result with the cache's own key."""
    store = cache_mod.Cache(str(folder / ".freezelint_cache"), str(folder)).load()
    assert store.entries, "nothing cached to tamper with"
    for entry in store.entries.values():
        for rec in entry["r"].values():
            rec["f"], rec["e"] = [], False
    store._dirty = True
    store.save()


# -- never write outside the project --------------------------------------------


@needs_symlinks
def test_a_symlinked_cache_folder_is_refused(run_cli, tmp_path, tmp_path_factory, default_cache, linted):
    project = _project(tmp_path / "repo")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, project / ".freezelint_cache")
    for _ in range(2):
        linted.clear()
        code, findings, err = _check(run_cli, project)
        assert (code, findings) == (1, FINDING)
        assert sorted(linted) == ["bad.py", "good.py"]  # linted every time: no cache
        assert "cache off" in err and ".freezelint_cache is a symlink" in err
        assert len(err.strip().splitlines()) == 1
    assert _tree(elsewhere) == []  # nothing created where the link points


@needs_symlinks
def test_a_cache_folder_behind_a_symlinked_folder_is_refused(run_cli, tmp_path, tmp_path_factory, default_cache):
    project = _project(tmp_path / "repo")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, project / "build")
    code, findings, err = _check(run_cli, project, "--cache-dir", "build/cache")
    assert (code, findings) == (1, FINDING)
    assert "cache off" in err and "symlink" in err
    assert _tree(elsewhere) == []


@needs_symlinks
def test_symlinks_inside_the_cache_folder_are_never_followed(run_cli, tmp_path, tmp_path_factory, default_cache, linted):
    project = _project(tmp_path / "repo")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    cache_dir = project / ".freezelint_cache"
    cache_dir.mkdir()
    results_name = cache_mod.Cache(str(cache_dir), str(project)).name
    for name in (".gitignore", "CACHEDIR.TAG", cache_mod.KEY_FILE, results_name):
        os.symlink(elsewhere / f"planted-{name}", cache_dir / name)  # dangling: following it creates a file there
    assert _check(run_cli, project)[:2] == (1, FINDING)
    assert _tree(elsewhere) == []
    assert not os.path.islink(cache_dir / results_name) and not os.path.islink(cache_dir / cache_mod.KEY_FILE)
    linted.clear()
    assert _check(run_cli, project)[:2] == (1, FINDING)
    assert linted == []  # the cache works once its own files replaced the links
    assert _tree(elsewhere) == []


# -- never trust a cache the repository ships ------------------------------------


@needs_git
def test_a_committed_cache_with_emptied_findings_cannot_hide_them(run_cli, tmp_path, default_cache):
    origin = _project(tmp_path / "origin")
    _git(origin, "init", "-q")
    assert _check(run_cli, origin)[:2] == (1, FINDING)
    _hide_findings(origin)
    assert _check(run_cli, origin)[:2] == (0, [])  # the doctored cache would hide the bug if trusted
    _git(origin, "add", "-A")
    _git(origin, "add", "-f", ".freezelint_cache")  # ship the cache, key and all
    _git(origin, "commit", "-q", "-m", "a bug, and a cache that says all is well")
    clone = tmp_path / "ci" / "checkout"
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert (clone / ".freezelint_cache" / cache_mod.KEY_FILE).is_file()
    code, findings, err = _check(run_cli, clone)
    assert (code, findings) == (1, FINDING)
    assert "cache off" in err and "tracked by git" in err
    assert _check(run_cli, origin)[:2] == (1, FINDING)  # once tracked, not even its author's copy is read


def test_a_cache_copied_in_with_the_files_cannot_hide_findings(run_cli, tmp_path, default_cache, linted):
    """No git: an archive (or copy) of a project brings its cache along; the key is
    bound to the key file's identity, which the copy does not have."""
    origin = _project(tmp_path / "origin")
    assert _check(run_cli, origin)[:2] == (1, FINDING)
    _hide_findings(origin)
    assert _check(run_cli, origin)[:2] == (0, [])
    unpacked = tmp_path / "unpacked"
    shutil.copytree(origin, unpacked)
    linted.clear()
    code, findings, err = _check(run_cli, unpacked)
    assert (code, findings) == (1, FINDING)
    assert sorted(linted) == ["bad.py", "good.py"] and err == ""


# -- keys that survive a move or a restore -----------------------------------------


@needs_git
def test_a_cache_restored_into_a_checkout_at_another_path_hits(run_cli, tmp_path, default_cache, linted):
    """actions/cache: a fresh clone at another path, the cache folder restored into it."""
    origin = _project(tmp_path / "origin")
    _git(origin, "init", "-q")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-q", "-m", "files")
    first = _check(run_cli, origin)
    assert first[:2] == (1, FINDING)
    clone = tmp_path / "runner" / "work" / "checkout"
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    shutil.copytree(origin / ".freezelint_cache", clone / ".freezelint_cache")  # new inodes, new mtimes
    linted.clear()
    assert _check(run_cli, clone) == first
    assert linted == []
    (results,) = (clone / ".freezelint_cache").glob("results-*.json")
    keys = sorted(json.loads(results.read_bytes().partition(b"\n")[2])["files"])
    assert keys == ["bad.py", "good.py"]  # relative to the project root, not absolute


def test_a_moved_project_keeps_its_cache(run_cli, tmp_path, default_cache, linted):
    origin = _project(tmp_path / "origin")
    first = _check(run_cli, origin)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    os.rename(origin, moved)
    linted.clear()
    assert _check(run_cli, moved) == first
    assert linted == []


def test_a_cache_folder_named_outside_the_project_is_restored_at_another_path(run_cli, tmp_path, monkeypatch, linted):
    """The other CI recipe: FREEZELINT_CACHE_DIR outside the checkout, saved and restored."""
    origin = _project(tmp_path / "a" / "checkout")
    monkeypatch.setenv(cache_mod.ENV_VAR, str(tmp_path / "a" / "cache"))
    first = _check(run_cli, origin)
    other = tmp_path / "b" / "checkout"
    shutil.copytree(origin, other)
    shutil.copytree(tmp_path / "a" / "cache", tmp_path / "b" / "cache")
    monkeypatch.setenv(cache_mod.ENV_VAR, str(tmp_path / "b" / "cache"))
    linted.clear()
    assert _check(run_cli, other) == first
    assert linted == []


def test_per_file_ignores_stay_keyed_relative_to_the_project(run_cli, tmp_path, default_cache, linted):
    origin = _project(tmp_path / "origin")
    (origin / "pyproject.toml").write_text('[tool.freezelint]\nper-file-ignores = {"good.py" = ["FRZ001"]}\n')
    first = _check(run_cli, origin)
    assert first[:2] == (1, FINDING)
    moved = tmp_path / "moved"
    os.rename(origin, moved)
    linted.clear()
    assert _check(run_cli, moved) == first
    assert linted == []


@pytest.mark.parametrize("where", [".", ".."])
def test_the_project_folder_or_one_above_it_is_never_the_cache(run_cli, tmp_path, where):
    project = _project(tmp_path / "outer" / "repo")
    before = _tree(tmp_path)
    code, findings, err = _check(run_cli, project, "--cache-dir", where)
    assert (code, findings) == (1, FINDING)
    assert "cache off" in err and "holds it" in err
    assert _tree(tmp_path) == before  # no .gitignore `*` ignoring the whole project
