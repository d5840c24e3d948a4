"""Where the libraries' sources come from, and which of their files are read.

A *root* is a folder that holds top-level packages (a site-packages folder, an
unzipped wheel, an extracted sdist, a repository checkout). Nothing here imports
the libraries: files are found on disk and read as text.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple


@dataclass(frozen=True)
class Library:
    name: str  # the key in the knowledge base's "sources"
    dist: str  # the pip distribution
    version: str  # pinned for --from-pip
    packages: Tuple[str, ...]  # top-level import packages it contributes
    sdist: bool = False  # no usable wheel on PyPI: `pip download --no-binary`
    skip: Tuple[str, ...] = ()  # sub-paths (relative to the root, with /) not read


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
    Library("torch", "torch", "2.13.0", ("torch",), skip=TORCH_SKIP),
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
    Library("mmpretrain", "mmpretrain", "1.2.0", ("mmpretrain",)),
    # mmcv ships only an sdist whose metadata step needs a CUDA toolchain: give a checkout
    # with --source mmcv=PATH (github.com/open-mmlab/mmcv).
    Library("mmcv", "mmcv", "2.2.0", ("mmcv",), sdist=True),
    # bitsandbytes' wheels carry ~100 MB of CUDA kernels for a few hundred KB of Python: give a
    # checkout with --source bitsandbytes=PATH (github.com/bitsandbytes-foundation/bitsandbytes).
    Library("bitsandbytes", "bitsandbytes", "0.50.2.dev0", ("bitsandbytes",)),
]
BY_NAME = {lib.name: lib for lib in LIBRARIES}
NOT_FROM_PIP = {"torch", "mmcv", "bitsandbytes"}  # torch: the installed one; the others: see above


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


def from_pip(lib: Library, cache: str) -> str:
    """Download `lib`'s pinned wheel (or sdist) into `cache` without installing it; unpack; return the root."""
    dest = os.path.join(cache, "src", f"{lib.dist}-{lib.version}")
    root = find_root(dest, lib) if os.path.isdir(dest) else None
    if root:
        return root
    downloads = os.path.join(cache, "downloads")
    os.makedirs(downloads, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", downloads]
    cmd += ["--no-binary=:all:", "--no-build-isolation"] if lib.sdist else ["--only-binary=:all:"]
    cmd.append(f"{lib.dist}=={lib.version}")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    prefixes = {lib.dist.replace("-", "_").lower(), lib.dist.lower()}
    for fn in sorted(os.listdir(downloads)):
        stem = fn.lower()
        if any(stem.startswith(f"{p}-{lib.version}") for p in prefixes):
            _extract(os.path.join(downloads, fn), dest)
    root = find_root(dest, lib)
    if root is None:
        raise RuntimeError(f"{lib.dist}=={lib.version}: no {'/'.join(lib.packages)} package in the download")
    return root


def library_roots(args_sources: Dict[str, str], use_pip: bool, cache: str, only: Optional[List[str]]) -> Dict[str, Tuple[str, str]]:
    """name -> (root, version label). Explicit --source wins, then pip, then installed packages."""
    out: Dict[str, Tuple[str, str]] = {}
    for lib in LIBRARIES:
        if only and lib.name not in only:
            continue
        if lib.name in args_sources:
            path = args_sources[lib.name]
            root = find_root(path, lib)
            if root is None:
                raise RuntimeError(f"--source {lib.name}={path}: no {'/'.join(lib.packages)} package there")
            out[lib.name] = (root, version_of(root, lib) or "source")
        elif use_pip and lib.name not in NOT_FROM_PIP:
            out[lib.name] = (from_pip(lib, cache), lib.version)
        else:
            root = installed_root(lib.packages[0])
            if root is not None:
                out[lib.name] = (root, version_of(root, lib) or "installed")
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
