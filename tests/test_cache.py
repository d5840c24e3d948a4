"""The result cache: hits, every kind of invalidation, corrupt entries, and where it lives.

What it may trust and where it may write: test_cache_trust.py.
"""

import json
import os
import time

import pytest

import freezelint
from freezelint.static.run import cache as cache_mod
from freezelint.static.run import engine

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
GOOD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad_(False)\n"
NET_MODULE = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n"
NET_PLAIN = "class Net:\n    pass\n"
USES_NET = "from a import Net\n\nNet().requires_grad = False\n"
OLD = 1_500_000_000  # an mtime well in the past: the cache may trust the file's stat


def _write(path, text, mtime=OLD):
    path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "bad.py", BAD)
    _write(tmp_path / "good.py", GOOD)
    return tmp_path


class LintCalls:
    """The names of the files actually linted (not answered from the cache), in this
    process or in a worker pool's: each call appends a line to a log file, which
    forked workers inherit (a list in this process would never see their calls)."""

    def __init__(self, log):
        self.log = log
        self.clear()

    def clear(self):
        self.log.write_text("")

    def records(self):
        return [line.split(" ") for line in self.log.read_text().splitlines()]

    def names(self):
        return [name for _, name in self.records()]

    def pids(self):
        return {int(pid) for pid, _ in self.records()}

    def __iter__(self):
        return iter(self.names())

    def __eq__(self, other):
        return self.names() == list(other)

    def __repr__(self):
        return repr(self.names())


@pytest.fixture
def lint_calls(monkeypatch, tmp_path_factory):
    calls = LintCalls(tmp_path_factory.mktemp("calls") / "linted.log")
    real = engine.lint_file

    def spy(path, *args):
        with open(calls.log, "a") as fh:
            fh.write(f"{os.getpid()} {os.path.basename(path)}\n")
        return real(path, *args)

    monkeypatch.setattr(engine, "lint_file", spy)
    return calls


def _json(run_cli, *args):
    code, out, err = run_cli("check", *args, "--output-format", "json")
    assert code in (0, 1), err
    return code, [(os.path.basename(f["filename"]), f["code"], f["location"]["row"]) for f in json.loads(out)]


def _cache_files(folder):
    d = folder / ".freezelint_cache"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _payload(result_file):
    """The JSON of a results file (its first line is the MAC)."""
    return json.loads(result_file.read_bytes().partition(b"\n")[2])


def test_second_run_is_answered_from_the_cache_with_the_same_findings(run_cli, project, lint_calls):
    first = _json(run_cli, ".")
    assert first == (1, [("bad.py", "FRZ001", 4)])
    assert sorted(lint_calls) == ["bad.py", "good.py"]
    lint_calls.clear()
    assert _json(run_cli, ".") == first  # findings come back from the cache, not only clean files
    assert lint_calls == []
    names = _cache_files(project)
    assert ".gitignore" in names and any(n.startswith("results-") for n in names)
    assert (project / ".freezelint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_text_output_from_the_cache_is_identical(run_cli, project):
    cold = run_cli("check", ".")
    warm = run_cli("check", ".")
    assert cold == warm and "FRZ001" in cold[1]


def test_content_change_invalidates(run_cli, project, lint_calls):
    _json(run_cli, ".")
    lint_calls.clear()
    _write(project / "bad.py", GOOD, mtime=OLD + 10)
    assert _json(run_cli, ".") == (0, [])
    assert lint_calls == ["bad.py"]  # only the changed file is linted again
    lint_calls.clear()
    _write(project / "bad.py", BAD, mtime=OLD + 20)
    assert _json(run_cli, ".") == (1, [("bad.py", "FRZ001", 4)])


def test_content_change_with_the_same_stat_is_seen_when_the_file_is_recent(run_cli, project):
    now = time.time()  # "recent" is relative to the run, so the test holds whatever the date
    _write(project / "bad.py", BAD, mtime=now)
    assert _json(run_cli, ".")[0] == 1
    # Same size, same mtime: a stat-only cache would miss this edit. A file this
    # recent (relative to the run) is "racily clean" and hashed every time.
    _write(project / "bad.py", BAD.replace("requires_grad", "something_els"), mtime=now)
    assert _json(run_cli, ".") == (0, [])


def test_touch_without_change_reuses_results(run_cli, project, lint_calls):
    _json(run_cli, ".")
    lint_calls.clear()
    os.utime(project / "bad.py", (OLD + 99, OLD + 99))
    assert _json(run_cli, ".") == (1, [("bad.py", "FRZ001", 4)])
    assert lint_calls == []  # hashed, same bytes: cached findings stand


def test_selection_change_invalidates(run_cli, project, lint_calls):
    assert _json(run_cli, ".")[1] == [("bad.py", "FRZ001", 4)]
    assert _json(run_cli, ".", "--ignore", "FRZ001") == (0, [])
    assert _json(run_cli, ".", "--select", "FRZ002") == (0, [])
    lint_calls.clear()
    assert _json(run_cli, ".")[1] == [("bad.py", "FRZ001", 4)]
    assert lint_calls == []  # the default selection's results were kept alongside


def test_config_change_invalidates(run_cli, project):
    assert _json(run_cli, ".")[1] == [("bad.py", "FRZ001", 4)]
    (project / "pyproject.toml").write_text('[tool.freezelint]\nper-file-ignores = {"bad.py" = ["FRZ001"]}\n')
    assert _json(run_cli, ".") == (0, [])
    (project / "pyproject.toml").write_text("[tool.freezelint]\n")
    assert _json(run_cli, ".")[1] == [("bad.py", "FRZ001", 4)]


def test_version_change_invalidates(run_cli, project, lint_calls, monkeypatch):
    _json(run_cli, ".")
    lint_calls.clear()
    monkeypatch.setattr(freezelint, "__version__", "999.0.0")
    assert _json(run_cli, ".") == (1, [("bad.py", "FRZ001", 4)])
    assert sorted(lint_calls) == ["bad.py", "good.py"]
    names = [n for n in _cache_files(project) if n.startswith("results-")]
    assert len(names) == 1 and "999.0.0" in names[0]  # the other build's results were dropped


def test_build_id_follows_contents_not_mtimes(tmp_path, monkeypatch):
    """A fresh install (every CI run) gives every file a new mtime; results must survive it."""
    import shutil

    pkg = tmp_path / "freezelint"
    shutil.copytree(os.path.dirname(freezelint.__file__), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(freezelint, "__file__", str(pkg / "__init__.py"))

    def fresh():
        monkeypatch.setattr(cache_mod, "_BUILD_ID", None)
        return cache_mod.build_id()

    first = fresh()
    for p in pkg.rglob("*"):
        os.utime(p, (OLD, OLD))
    assert fresh() == first
    rule = sorted(pkg.glob("static/rules/*.py"))[-1]
    rule.write_text(rule.read_text() + "\n# edited\n")
    assert fresh() != first


def test_stale_cross_file_index_cannot_hide_a_finding(run_cli, tmp_path, monkeypatch):
    """B's text never changes; whether it has a finding depends on what A says Net is."""
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.py", NET_MODULE)
    _write(tmp_path / "b.py", USES_NET)
    finding = (1, [("b.py", "FRZ001", 3)])
    assert _json(run_cli, ".") == finding
    assert _json(run_cli, ".") == finding  # warm
    _write(tmp_path / "a.py", NET_PLAIN, mtime=OLD + 10)
    assert _json(run_cli, ".") == (0, [])
    assert _json(run_cli, ".") == (0, [])  # warm, and still right
    _write(tmp_path / "a.py", NET_MODULE, mtime=OLD + 20)
    assert _json(run_cli, ".") == finding


def test_a_subclass_in_a_third_file_counts_too(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.py", "class Base:\n    pass\n")
    _write(tmp_path / "b.py", USES_NET.replace("from a", "from c"))
    _write(tmp_path / "c.py", "from a import Base\n\n\nclass Net(Base):\n    pass\n")
    assert _json(run_cli, ".") == (0, [])
    _write(tmp_path / "a.py", "import torch.nn as nn\n\n\nclass Base(nn.Module):\n    pass\n", mtime=OLD + 10)
    assert _json(run_cli, ".") == (1, [("b.py", "FRZ001", 3)])


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xffnot json at all",
        b'{"format": 1, "files": []}',
        b'{"format": 1, "files": {"X": "junk"}}',
        b"[1, 2, 3]",
        b"",
    ],
)
def test_corrupt_cache_is_ignored(run_cli, project, garbage):
    expected = _json(run_cli, ".")
    (result_file,) = (project / ".freezelint_cache").glob("results-*.json")
    result_file.write_bytes(garbage)
    assert _json(run_cli, ".") == expected
    assert _json(run_cli, ".") == expected  # and the rewritten cache is good again
    assert sorted(_payload(result_file)["files"]) == ["bad.py", "good.py"]


def test_corrupt_entries_are_ignored(run_cli, project, lint_calls):
    expected = _json(run_cli, ".")
    # Entries of the wrong shape in a correctly signed file (this cache's own key).
    store = cache_mod.Cache(str(project / ".freezelint_cache"), str(project)).load()
    assert sorted(store.entries) == ["bad.py", "good.py"]
    for entry in store.entries.values():
        entry["sum"] = "not a summary"
        for rec in entry["r"].values():
            rec["f"] = [{"code": "FRZ001"}]  # a finding with fields missing
    store._dirty = True
    store.save()
    lint_calls.clear()
    assert _json(run_cli, ".") == expected
    assert sorted(lint_calls) == ["bad.py", "good.py"]  # the entries were read, refused, and linted again


def test_warm_run_with_a_worker_pool_lints_nothing(run_cli, project, lint_calls):
    for i in range(2 * engine.MIN_FILES_PER_WORKER):
        _write(project / f"m{i:02}.py", BAD if i % 2 else GOOD)
    cold = _json(run_cli, ".", "--jobs", "2")
    assert len(lint_calls.names()) == 2 + 2 * engine.MIN_FILES_PER_WORKER
    assert os.getpid() not in lint_calls.pids()  # the spy sees the workers' calls
    lint_calls.clear()
    assert _json(run_cli, ".", "--jobs", "2") == cold
    assert lint_calls == []


def test_no_cache_writes_nothing(run_cli, project, lint_calls):
    _json(run_cli, ".", "--no-cache")
    assert not (project / ".freezelint_cache").exists()
    _json(run_cli, ".")
    lint_calls.clear()
    _json(run_cli, ".", "--no-cache")
    assert sorted(lint_calls) == ["bad.py", "good.py"]  # and reads nothing


def test_env_var_and_cache_dir_option(run_cli, project, tmp_path_factory, monkeypatch):
    env_dir = tmp_path_factory.mktemp("envcache")
    monkeypatch.setenv(cache_mod.ENV_VAR, str(env_dir))
    _json(run_cli, ".")
    assert not (project / ".freezelint_cache").exists()
    assert any(p.name.startswith("results-") for p in env_dir.iterdir())
    opt_dir = tmp_path_factory.mktemp("optcache") / "nested"
    _json(run_cli, ".", "--cache-dir", str(opt_dir))  # the option wins over the environment
    assert any(p.name.startswith("results-") for p in opt_dir.iterdir())


def test_cache_lives_at_the_config_root(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)
    (tmp_path / "pyproject.toml").write_text("[tool.freezelint]\n")
    pkg = tmp_path / "pkg" / "sub"
    pkg.mkdir(parents=True)
    _write(pkg / "bad.py", BAD)
    monkeypatch.chdir(pkg)
    _json(run_cli, "bad.py")
    assert (tmp_path / ".freezelint_cache").is_dir()
    assert not (pkg / ".freezelint_cache").exists()


def test_unwritable_cache_dir_still_lints(run_cli, project):
    blocker = project / "blocker"
    blocker.write_text("a file where the cache folder should be\n")
    assert _json(run_cli, ".", "--cache-dir", str(blocker / "cache")) == (1, [("bad.py", "FRZ001", 4)])


def test_fix_works_with_a_warm_cache(run_cli, project):
    assert _json(run_cli, ".")[0] == 1
    code, out, err = run_cli("check", ".", "--fix")
    assert code == 0, (out, err)
    assert (project / "bad.py").read_text() == GOOD
    assert _json(run_cli, ".") == (0, [])


def test_cached_fix_edits_survive(run_cli, project):
    code, out, _ = run_cli("check", ".", "--output-format", "json")
    code2, out2, _ = run_cli("check", ".", "--output-format", "json")
    assert json.loads(out) == json.loads(out2)
    assert json.loads(out2)[0]["fix"]["edits"][0]["content"] == "model.requires_grad_(False)"


def test_syntax_errors_are_cached_as_errors(run_cli, project):
    _write(project / "broken.py", "def f(:\n")
    first = run_cli("check", ".")
    second = run_cli("check", ".")
    assert first[0] == second[0] == 2
    assert first[1] == second[1] and "FRZ000" in second[1]
