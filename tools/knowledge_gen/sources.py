"""Where the libraries' sources come from, and which of their files are read.

A *root* is a folder that holds top-level packages (a site-packages folder, an
unzipped wheel, an extracted sdist, a repository checkout). Nothing here imports
the libraries: files are found on disk and read as text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple


@dataclass(frozen=True)
class Library:
    name: str  # the key in the knowledge base's "sources"
    dist: str  # the distribution on PyPI
    version: str  # the exact release read (a final release on PyPI: no .dev, no +local)
    packages: Tuple[str, ...]  # top-level import packages it contributes
    sdist: bool = False  # read the sdist (mmcv: no wheel; deepspeed: its wheels are per platform)
    skip: Tuple[str, ...] = ()  # sub-paths (relative to the root, with /) not read
    needs: Tuple[str, ...] = ("torch",)  # libraries read with it by `--only` (its bases, its calls)

    @property
    def spec(self) -> str:
        """What the knowledge base records: `dist==version`, fetched from PyPI by `fetch`."""
        return f"{self.dist}=={self.version}"


# Parts of torch with no user-facing nn.Module, optimizer, factory or wrapper:
# compilers, tests, exporters. Skipping them halves the time to read torch.
TORCH_SKIP = (
    "torch/_inductor", "torch/testing", "torch/onnx", "torch/_refs", "torch/_decomp",
    "torch/_prims", "torch/_prims_common", "torch/utils/_sympy", "torch/_export",
    "torch/export", "torch/_functorch", "torch/_higher_order_ops", "torch/fx/experimental",
    "torch/_dynamo/variables", "torch/_dynamo/backends", "torch/_dynamo/repro", "torch/_vendor",
    "torch/utils/hipify", "torch/_numpy", "torch/_library", "torch/_subclasses",
    "torch/sparse/_triton_ops_meta.py", "torch/_torch_docs.py", "torch/_tensor_docs.py",
    "torch/_meta_registrations.py", "torch/_C", "torch/include", "torch/share",
)
_COMMON_SKIP = ("/tests/", "/test/", "/testing/", "/test_utils/")

LIBRARIES: List[Library] = [
    # The wheels of one release carry the same .py files on every platform (torch's CPU build,
    # 2.13.0+cpu, differs from 2.13.0 in version.py only): `fetch` reads the smallest one.
    Library("torch", "torch", "2.13.0", ("torch",), skip=TORCH_SKIP, needs=()),
    Library("torchvision", "torchvision", "0.29.1", ("torchvision",)),
    Library("timm", "timm", "1.0.31", ("timm",)),
    Library("transformers", "transformers", "5.24.0", ("transformers",),
            skip=("transformers/utils/dummy_", "transformers/commands", "transformers/cli")),
    Library("diffusers", "diffusers", "0.42.1", ("diffusers",), skip=("diffusers/utils/dummy_", "diffusers/commands")),
    Library("peft", "peft", "0.21.2", ("peft",)),
    Library("lightning", "lightning", "2.6.6", ("lightning",)),
    Library("pytorch_lightning", "pytorch-lightning", "2.6.6", ("pytorch_lightning", "lightning_fabric")),
    Library("accelerate", "accelerate", "1.15.0", ("accelerate",)),
    Library("deepspeed", "deepspeed", "0.19.8", ("deepspeed",), sdist=True),
    Library("sentence_transformers", "sentence-transformers", "6.2.0", ("sentence_transformers",)),
    Library("open_clip", "open_clip_torch", "3.3.0", ("open_clip",)),
    Library("mmengine", "mmengine", "0.10.7", ("mmengine",)),
    Library("mmpretrain", "mmpretrain", "1.2.0", ("mmpretrain",), needs=("torch", "mmengine", "mmcv")),
    # Only an sdist, whose build step needs a CUDA toolchain: `fetch` unpacks it without building.
    Library("mmcv", "mmcv", "2.2.0", ("mmcv",), sdist=True, needs=("torch", "mmengine")),
    Library("bitsandbytes", "bitsandbytes", "0.50.2", ("bitsandbytes",)),
]
BY_NAME = {lib.name: lib for lib in LIBRARIES}
PYPI_SIMPLE = "https://pypi.org/simple"
_RELEASE = re.compile(r"\d+(\.\d+)*(\.post\d+)?")  # a final release: no a/b/rc, .dev or +local


def parse_spec(text: str) -> Tuple[str, str]:
    """(dist, version) of a recorded source `dist==version`; ValueError unless it names a
    final release of a distribution `fetch` can download (no .dev, rc or +local label)."""
    dist, sep, version = text.partition("==")
    if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", dist) or not _RELEASE.fullmatch(version):
        raise ValueError(f"{text!r}: not `dist==version` of a final release")
    return dist, version


def recorded_source(lib: Library, found: Optional[str]) -> str:
    """What the knowledge base records for `lib` read from a folder holding version `found`:
    its spec when that is the pinned release or a local build of it; else `dist==found`, which names no
    fetchable release (tests/test_knowledge_sources.py then fails until the pin is bumped)."""
    release = (found or "").split("+")[0]  # a local build (torch 2.13.0+cpu) has the release's sources
    return lib.spec if release == lib.version else f"{lib.dist}=={found or 'unknown'}"


def skipped(lib: Library, rel: str) -> bool:
    name = os.path.basename(rel)
    if name.startswith(("modular_", "convert_")) and lib.name in ("transformers", "diffusers"):
        return True  # code-generation inputs and checkpoint converters, never imported by users
    return rel.startswith(lib.skip) or any(s in "/" + rel for s in _COMMON_SKIP) and lib.name != "torch"


def iter_files(root: str, lib: Library) -> Iterator[Tuple[str, str, bool]]:
    """(path, module name, is_package) of each .py file of `lib`'s packages under `root`."""
    for pkg in lib.packages:
        base = os.path.join(root, pkg)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            dirnames[:] = [d for d in dirnames if not skipped(lib, f"{rel_dir}/{d}") and d.isidentifier()]
            for fn in sorted(filenames):
                rel = f"{rel_dir}/{fn}"
                if not fn.endswith(".py") or skipped(lib, rel):
                    continue
                parts = rel[:-3].split("/")
                is_package = parts[-1] == "__init__"
                if is_package:
                    parts = parts[:-1]
                if all(p.isidentifier() for p in parts):
                    yield os.path.join(dirpath, fn), ".".join(parts), is_package


def find_root(folder: str, lib: Library, depth: int = 3) -> Optional[str]:
    """The folder under `folder` (itself included) that holds one of `lib`'s packages."""
    for dirpath, dirnames, _ in os.walk(folder):
        if dirpath[len(folder):].count(os.sep) >= depth:
            dirnames[:] = []
        if any(os.path.isfile(os.path.join(dirpath, p, "__init__.py")) for p in lib.packages):
            return dirpath
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return None


def installed_root(package: str) -> Optional[str]:
    """The site-packages folder that holds `package`, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def _extract(archive: str, dest: str) -> None:
    """Only the .py files: enough for the analysis, and a fraction of the bytes."""
    os.makedirs(dest, exist_ok=True)
    if archive.endswith(".whl") or archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for m in z.namelist():
                if m.endswith(".py") and ".." not in m.split("/"):
                    z.extract(m, dest)
    else:
        with tarfile.open(archive) as t:
            members = [m for m in t.getmembers() if m.isfile() and m.name.endswith(".py") and ".." not in m.name]
            t.extractall(dest, members=members, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(dest, members=members)


def _get(url: str, accept: Optional[str] = None) -> bytes:
    """One HTTP GET (the only network access; tests replace it)."""
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=300) as resp:
        return resp.read()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pick_file(files: List[dict], lib: Library, py: str = f"cp{sys.version_info[0]}{sys.version_info[1]}") -> dict:
    """The file of `lib`'s release to read, from PyPI's file list (PEP 691 JSON): the sdist when
    `lib.sdist`, else the smallest wheel that is pure Python or built for this Python (`py`),
    whatever its platform (they carry the same .py files)."""
    found = []
    for f in files:
        fn = f["filename"]
        if f.get("yanked"):
            continue
        if fn.endswith(".whl"):
            parts = fn[:-4].split("-")
            ok = not lib.sdist and len(parts) in (5, 6) and any(t in ("py3", py) for t in parts[-3].split("."))
        else:
            stem = fn[: -len(".tar.gz")] if fn.endswith(".tar.gz") else fn[:-4] if fn.endswith(".zip") else ""
            parts = stem.rsplit("-", 1)
            ok = lib.sdist and len(parts) == 2
        if ok and _norm(parts[0]) == _norm(lib.dist) and parts[1] == lib.version:
            found.append(f)
    if not found:
        kind = "sdist" if lib.sdist else f"wheel for py3 or {py}"
        raise RuntimeError(f"{lib.spec}: no {kind} on PyPI")
    return min(found, key=lambda f: (f.get("size") or 0, f["filename"]))


def fetch(lib: Library, cache: str) -> str:
    """Download `lib.spec` from PyPI into `cache` (hash checked, nothing installed or built),
    unpack its .py files, return the root."""
    dist, version = parse_spec(lib.spec)
    dest = os.path.join(cache, "src", f"{dist}-{version}")
    root = find_root(dest, lib) if os.path.isdir(dest) else None
    if root:
        return root
    index = json.loads(_get(f"{PYPI_SIMPLE}/{_norm(dist).replace('_', '-')}/", "application/vnd.pypi.simple.v1+json"))
    f = pick_file(index["files"], lib)
    data = _get(f["url"])
    want = f.get("hashes", {}).get("sha256")
    if want and hashlib.sha256(data).hexdigest() != want:
        raise RuntimeError(f"{lib.spec}: {f['filename']} does not match PyPI's sha256")
    downloads = os.path.join(cache, "downloads")
    os.makedirs(downloads, exist_ok=True)
    archive = os.path.join(downloads, f["filename"])
    with open(archive, "wb") as fh:
        fh.write(data)
    _extract(archive, dest)
    root = find_root(dest, lib)
    if root is None:
        raise RuntimeError(f"{lib.spec}: no {'/'.join(lib.packages)} package in {f['filename']}")
    return root


def library_roots(args_sources: Dict[str, str], fetch_all: bool, cache: str, only: Optional[List[str]]) -> Dict[str, Tuple[str, str]]:
    """name -> (root, recorded source). Explicit --source wins, then PyPI (`fetch_all`), then
    the installed packages. `only`: these libraries and those they are read with."""
    wanted = set(only or BY_NAME)
    for name in list(wanted):
        wanted |= set(BY_NAME[name].needs)
    out: Dict[str, Tuple[str, str]] = {}
    for lib in LIBRARIES:
        if lib.name not in wanted:
            continue
        if lib.name in args_sources:
            path = args_sources[lib.name]
            root = find_root(path, lib)
            if root is None:
                raise RuntimeError(f"--source {lib.name}={path}: no {'/'.join(lib.packages)} package there")
            out[lib.name] = (root, recorded_source(lib, version_of(root, lib)))
        elif fetch_all:
            out[lib.name] = (fetch(lib, cache), lib.spec)
        else:
            root = installed_root(lib.packages[0])
            if root is not None:
                out[lib.name] = (root, recorded_source(lib, version_of(root, lib)))
    return out


def version_of(root: str, lib: Library) -> Optional[str]:
    """The version from the dist-info folder next to the package, else a literal
    `__version__ = "..."` in the package's version.py or __init__.py (a repository checkout)."""
    try:
        names = os.listdir(root)
    except OSError:
        return None
    for fn in ("version.py", "__init__.py"):
        path = os.path.join(root, lib.packages[0], fn)
        if not any(n.lower().endswith(".dist-info") for n in names) and os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", fh.read(), re.M)
            if m:
                return m.group(1)
    prefixes = {lib.dist.replace("-", "_").lower(), lib.dist.lower()}
    for n in sorted(names):
        low = n.lower()
        if low.endswith(".dist-info") and any(low.startswith(p + "-") for p in prefixes):
            return n[: -len(".dist-info")].split("-", 1)[1]
    return None
