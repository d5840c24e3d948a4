"""Where the knowledge base's data came from: the "sources" record of libraries.json names, for
each library, one exact release the generator can fetch again (tools/knowledge_gen/sources.py),
so anyone can regenerate it from what is recorded. No network here: the fetch path is run
against a fake index; `python scripts/gen_knowledge.py --from-pypi --check` is the check
with the network (every library fetched from its recorded source, every entry compared)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from freezelint.static import knowledge as kb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))  # the generator is not shipped
from knowledge_gen import sources  # noqa: E402
from knowledge_gen.build import merge  # noqa: E402
from knowledge_gen.sources import BY_NAME, LIBRARIES, Library, parse_spec, pick_file, recorded_source  # noqa: E402

from test_knowledge import FAKE_TORCH  # noqa: E402

SCRIPT = os.path.join(ROOT, "scripts", "gen_knowledge.py")


def shipped() -> dict:
    with open(kb._PATH, encoding="utf-8") as fh:
        return json.load(fh)


def test_recorded_sources_are_the_pinned_exact_releases():
    recorded = shipped()["sources"]
    assert recorded == {lib.name: lib.spec for lib in LIBRARIES}, "regenerate: python scripts/gen_knowledge.py --from-pypi"
    for name, spec in recorded.items():
        assert parse_spec(spec) == (BY_NAME[name].dist, BY_NAME[name].version)  # raises unless an exact release


@pytest.mark.parametrize("spec", ["bitsandbytes==0.50.2.dev0", "torch==2.13.0+cpu", "mmcv==2.0.0rc4", "2.2.0",
                                  "mmcv>=2.2.0", "mmcv==", "==2.2.0", "mmcv==2.2.0 --index-url x"])
def test_inexact_sources_are_rejected(spec):
    with pytest.raises(ValueError):
        parse_spec(spec)


def test_a_folder_records_the_pin_only_when_it_holds_that_release():
    bnb = BY_NAME["bitsandbytes"]
    assert recorded_source(bnb, bnb.version) == bnb.spec
    assert recorded_source(BY_NAME["torch"], "2.13.0+cpu") == "torch==2.13.0"  # a local build of the release
    for found in ("0.50.2.dev0", None):  # a checkout between releases; no version found
        with pytest.raises(ValueError):
            parse_spec(recorded_source(bnb, found))


def _file(name: str, size: int, **extra) -> dict:
    return {"filename": name, "size": size, "url": f"https://files.example/{name}", "hashes": {}, **extra}


def test_the_file_read_is_the_smallest_wheel_this_python_can_read_or_the_sdist():
    lib = Library("torch", "torch", "2.13.0", ("torch",))
    files = [_file("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", 500), _file("torch-2.13.0-cp310-cp310-macosx_14_0_arm64.whl", 90),
             _file("torch-2.13.0-cp311-cp311-macosx_14_0_arm64.whl", 110), _file("torch-2.13.1-cp311-cp311-macosx_14_0_arm64.whl", 1),
             _file("torch-2.13.0-cp311-none-any.whl", 2, yanked=True), _file("torch-2.13.0.tar.gz", 3)]
    assert pick_file(files, lib, py="cp311")["filename"] == "torch-2.13.0-cp311-cp311-macosx_14_0_arm64.whl"
    mmcv = BY_NAME["mmcv"]
    assert pick_file([_file("mmcv-2.2.0.tar.gz", 9), _file("mmcv-2.1.0.tar.gz", 1)], mmcv)["filename"] == "mmcv-2.2.0.tar.gz"
    st = Library("st", "sentence-transformers", "6.2.0", ("sentence_transformers",))
    assert pick_file([_file("sentence_transformers-6.2.0-py3-none-any.whl", 5)], st)["filename"].startswith("sentence_transformers-6.2.0")
    with pytest.raises(RuntimeError, match="no sdist on PyPI"):
        pick_file([_file("mmcv-2.2.0-py3-none-any.whl", 1)], mmcv)


def _wheel(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def test_fetch_downloads_the_recorded_release_checks_its_hash_and_unpacks_only_python(tmp_path, monkeypatch):
    lib = Library("fakelib", "fake-lib", "1.0", ("fakelib",))
    good = _wheel({"fakelib/__init__.py": "X = 1\n", "fakelib/_ext.so": "binary", "fake_lib-1.0.dist-info/METADATA": "m"})
    served = {}

    def fake_get(url, accept=None):
        served[url] = accept
        if url == f"{sources.PYPI_SIMPLE}/fake-lib/":
            files = [{"filename": "fake_lib-1.0-py3-none-any.whl", "size": len(good), "url": "https://files.example/w.whl",
                      "hashes": {"sha256": hashlib.sha256(good).hexdigest()}}]
            return json.dumps({"files": files}).encode()
        assert url == "https://files.example/w.whl"
        return good

    monkeypatch.setattr(sources, "_get", fake_get)
    root = sources.fetch(lib, str(tmp_path / "cache"))
    assert served[f"{sources.PYPI_SIMPLE}/fake-lib/"] == "application/vnd.pypi.simple.v1+json"
    assert sorted(os.listdir(os.path.join(root, "fakelib"))) == ["__init__.py"]
    assert sources.fetch(lib, str(tmp_path / "cache")) == root  # unpacked once, then reused

    monkeypatch.setattr(sources, "_get", lambda url, accept=None: fake_get(url, accept) if accept else b"tampered")
    with pytest.raises(RuntimeError, match="sha256"):
        sources.fetch(lib, str(tmp_path / "other"))


def test_merge_replaces_only_the_named_libraries_entries():
    old = shipped()
    new = json.loads(json.dumps(old))
    new["modules"] = {"bitsandbytes.nn.fresh": "Linear8;P"}
    new["optimizers"] = {}
    new["sources"]["bitsandbytes"] = "bitsandbytes==9.9"
    new["sources"]["mmcv"] = "mmcv==9.9"
    out = merge(old, new, ["bitsandbytes"])
    assert [g for g in out["modules"] if g.startswith("bitsandbytes")] == ["bitsandbytes.nn.fresh"]
    assert not [g for g in out["optimizers"] if g.startswith("bitsandbytes")]
    assert {g: v for g, v in out["modules"].items() if not g.startswith("bitsandbytes")} == \
        {g: v for g, v in old["modules"].items() if not g.startswith("bitsandbytes")}
    assert out["sources"]["bitsandbytes"] == "bitsandbytes==9.9" and out["sources"]["mmcv"] == old["sources"]["mmcv"]


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300)


def test_only_merges_into_the_file_and_check_compares_with_it(tmp_path):
    fake = tmp_path / "src"
    for rel, text in FAKE_TORCH.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    out = tmp_path / "libraries.json"
    shutil.copy(kb._PATH, out)
    res = _run("--only", "torch", "--source", f"torch={fake}", "--out", str(out), "--cache", "")
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert "torch.models" in data["modules"] and "torch.nn.modules.rnn" not in data["modules"]
    assert data["sources"]["torch"] == "torch==unknown"  # a folder without a version: recorded as not a release
    assert {k: v for k, v in data["modules"].items() if not k.startswith("torch.")} == \
        {k: v for k, v in shipped()["modules"].items() if not k.startswith("torch.")}
    same = _run("--check", "--only", "torch", "--source", f"torch={fake}", "--out", str(out), "--cache", "")
    assert same.returncode == 0 and same.stdout == "", same.stdout + same.stderr
    differs = _run("--check", "--only", "torch", "--source", f"torch={fake}", "--cache", "")  # against the shipped file
    lines = differs.stdout.splitlines()
    assert differs.returncode == 1 and "torch: recorded 'torch==2.13.0', read 'torch==unknown'" in lines
    assert "torch: modules differs" in "\n".join(lines)
