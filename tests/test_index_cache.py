"""The resolved project index kept by the result cache (run/cache_index.py, run/project_source.py).

Any changed summary changes its key, so a warm run never answers from an index that an
edit elsewhere made stale; a file of it that is corrupt, foreign or a symlink is ignored.
"""

import glob
import json
import os

import pytest

from freezelint.static.run import cache as cache_mod
from freezelint.static.run import cache_index
from freezelint.static.run.cache import summary_from_json, summary_to_json
from freezelint.static.semantic.project import ProjectIndex, summarize

NET_MODULE = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n"
NET_PLAIN = "class Net:\n    pass\n"
USES_NET = "from a import Net\n\nNet().requires_grad = False\n"
BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
OLD = 1_500_000_000
MARK = []


def _write(path, text, mtime):
    path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    _write(tmp_path / "a.py", NET_MODULE, OLD)
    _write(tmp_path / "b.py", USES_NET, OLD)
    _write(tmp_path / "c.py", BAD, OLD)
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    """How often the index was resolved from the summaries, and loaded from the cache."""
    counts = {"resolve": 0, "load": 0, "loaded": 0}
    resolve, load = ProjectIndex.resolve.__func__, cache_index.IndexCache.load_index

    def spy_resolve(cls, *args, **kwargs):
        counts["resolve"] += 1
        return resolve(cls, *args, **kwargs)

    def spy_load(self, key):
        counts["load"] += 1
        got = load(self, key)
        counts["loaded"] += got is not None
        return got

    monkeypatch.setattr(ProjectIndex, "resolve", classmethod(spy_resolve))
    monkeypatch.setattr(cache_index.IndexCache, "load_index", spy_load)

    def take():
        got = dict(counts)
        counts.update(resolve=0, load=0, loaded=0)
        return got

    return take


def _json(run_cli, *args):
    code, out, err = run_cli("check", *args, "--output-format", "json")
    assert code in (0, 1), err
    return sorted((os.path.basename(f["filename"]), f["code"], f["location"]["row"]) for f in json.loads(out))


def _index_files(project):
    return sorted(glob.glob(str(project / ".freezelint_cache" / "index-*.pickle")))


def test_warm_runs_take_the_index_from_the_cache_and_an_edit_elsewhere_changes_it(run_cli, project, calls):
    found = [("b.py", "FRZ001", 3), ("c.py", "FRZ001", 4)]
    assert _json(run_cli, ".") == found
    assert calls()["resolve"] == 1 and len(_index_files(project)) == 1
    assert _json(run_cli, ".") == found
    assert calls() == {"resolve": 0, "load": 0, "loaded": 0}  # every result cached: its digest was enough
    # c.py changes, its summary does not: it is linted again, with the index the cache kept
    _write(project / "c.py", BAD + "# a comment\n", OLD + 10)
    assert _json(run_cli, ".") == found
    assert calls() == {"resolve": 0, "load": 1, "loaded": 1}
    # a.py's Net is no longer a Module: the key changes, b.py is linted against the new index
    _write(project / "a.py", NET_PLAIN, OLD + 20)
    assert _json(run_cli, ".") == [("c.py", "FRZ001", 4)] == _json(run_cli, ".", "--no-cache")
    assert calls()["resolve"] == 2  # this run, and the one without a cache
    _write(project / "a.py", NET_MODULE, OLD + 30)  # back: the first key again, its digest still known
    assert _json(run_cli, ".") == found
    got = calls()
    assert got["resolve"] == 0 or got["load"] == 1  # from the kept index, or resolved if its file was pruned


def test_one_file_of_a_warm_project_needs_no_index_when_its_result_is_cached(run_cli, project, calls):
    assert _json(run_cli, "b.py") == [("b.py", "FRZ001", 3)]  # one file of the project: the others summarised
    calls()
    assert _json(run_cli, "b.py") == [("b.py", "FRZ001", 3)]
    assert calls() == {"resolve": 0, "load": 0, "loaded": 0}
    _write(project / "a.py", NET_PLAIN, OLD + 10)
    assert _json(run_cli, "b.py") == []  # b.py's text is the same; what a.py says Net is changed
    assert calls()["resolve"] == 1


def _lint_again(project, n):
    _write(project / "c.py", BAD + f"# edit {n}\n", OLD + 100 + n)  # c.py must be linted: the index is needed


@pytest.mark.parametrize("garbage", [b"", b"junk", b"0" * 64 + b"\nnot a pickle"])
def test_a_corrupt_index_file_is_resolved_again(run_cli, project, calls, garbage):
    found = _json(run_cli, ".")
    (index_file,) = _index_files(project)
    with open(index_file, "wb") as fh:
        fh.write(garbage)
    _lint_again(project, 1)
    calls()
    assert _json(run_cli, ".") == found
    assert calls() == {"resolve": 1, "load": 1, "loaded": 0}
    _lint_again(project, 2)
    assert _json(run_cli, ".") == found
    assert calls() == {"resolve": 0, "load": 1, "loaded": 1}  # and rewritten good


class _Marker:
    def __reduce__(self):
        return (MARK.append, ("unpickled",))


def test_an_index_file_not_written_with_the_cache_key_is_never_unpickled(run_cli, project, calls):
    import pickle

    found = _json(run_cli, ".")
    (index_file,) = _index_files(project)
    with open(index_file, "wb") as fh:  # a pickle that runs code when loaded, under a MAC of the wrong key
        fh.write(b"f" * 64 + b"\n" + pickle.dumps(_Marker()))
    _lint_again(project, 1)
    calls()
    assert _json(run_cli, ".") == found
    assert MARK == [] and calls()["loaded"] == 0


def test_an_index_file_that_is_a_symlink_is_not_followed(run_cli, project, calls, tmp_path_factory):
    found = _json(run_cli, ".")
    (index_file,) = _index_files(project)
    outside = tmp_path_factory.mktemp("elsewhere") / "target"
    outside.write_bytes(open(index_file, "rb").read())  # even the genuine bytes, behind a link
    os.remove(index_file)
    os.symlink(outside, index_file)
    _lint_again(project, 1)
    calls()
    assert _json(run_cli, ".") == found
    assert calls()["loaded"] == 0
    before = outside.read_bytes()
    _lint_again(project, 2)
    _write(project / "a.py", NET_MODULE + "\n\nclass Other(nn.Module):\n    pass\n", OLD + 300)  # a new key: written
    _json(run_cli, ".")
    assert outside.read_bytes() == before  # written beside the link, never through it


def test_index_files_of_this_build_are_pruned_to_the_newest(run_cli, project):
    for n in range(cache_index.INDEX_FILES_KEPT + 2):
        _write(project / "a.py", NET_MODULE + f"\n\nclass Extra{n}(nn.Module):\n    pass\n", OLD + 10 * (n + 1))
        _json(run_cli, ".")
    assert len(_index_files(project)) == cache_index.INDEX_FILES_KEPT
    payload = json.loads(sorted((project / ".freezelint_cache").glob("results-*.json"))[0].read_bytes().partition(b"\n")[2])
    assert len(payload["index"]) == cache_index.INDEX_FILES_KEPT + 2  # the digests stay (small), up to INDEX_DIGESTS_KEPT


TWICE = """
try:
    from torch import nn

    class Net(nn.Module):
        pass
except ImportError:
    class Net:
        pass
"""


@pytest.mark.parametrize("text", [TWICE, NET_MODULE, USES_NET, ""])
def test_a_summary_read_back_from_the_cache_is_the_summary(text):
    s = summarize(text)
    back = summary_from_json(json.loads(json.dumps(summary_to_json(s))))
    assert back == s
    if text is TWICE:
        assert [n for n, _ in back.classes] == ["Net", "Net"]  # both definitions: Net is ambiguous
        assert ProjectIndex.build([back]).ambiguous_classes == {"Net"}


@pytest.mark.parametrize("damage", ["remove", "garbage", "other summaries"])
def test_summaries_missing_or_out_of_step_are_read_again_from_the_files(run_cli, project, damage):
    _json(run_cli, ".")
    (sums,) = (project / ".freezelint_cache").glob("summaries-*.json")
    if damage == "remove":
        sums.unlink()
    elif damage == "garbage":
        sums.write_bytes(b"junk")
    else:  # a correctly signed file whose texts do not hash to what the entries name
        store = cache_mod.Cache(str(project / ".freezelint_cache"), str(project)).load()
        other = json.dumps(summary_to_json(summarize(NET_PLAIN)))
        store.sums = {e["sh"]: other for e in store.entries.values()}  # what the file will hold (no read)
        store.new_sums = {"x": "{}"}  # so that save() rewrites it
        store._dirty = True
        store.save()
    # a.py changes: the index is resolved again, from the other files' summaries (re-read when not trusted)
    _write(project / "a.py", NET_PLAIN, OLD + 10)
    assert _json(run_cli, ".") == [("c.py", "FRZ001", 4)] == _json(run_cli, ".", "--no-cache")
    _write(project / "a.py", NET_MODULE, OLD + 20)
    assert _json(run_cli, ".") == [("b.py", "FRZ001", 3), ("c.py", "FRZ001", 4)]
