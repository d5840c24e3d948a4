"""The newest torch a project allows, read from its requirement files (never by importing torch).

Rules that depend on the torch version (before 2.0, `zero_grad()` defaults to
`set_to_none=False`) ask `ProjectIndex.torch_max`: the newest (major, minor) the
project's requirements allow, or None when they do not bound it. Sources, at the
project root: pyproject.toml, setup.cfg, setup.py, requirements*.txt and conda
environment files; `target-torch-version` in the config overrides them.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Iterable, List, Optional, Tuple

Version = Tuple[int, int]
_UNBOUNDED_MINOR = 999  # `<2.0`: any 1.x

_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
_GLOBS = ("requirements*.txt", "requirements/*.txt", "environment*.yml", "environment*.yaml")
# `torch==1.13.1`, `"torch>=1.8,<2.0"`, `torch ~= 1.12` (pip); `pytorch=1.12.1` (conda)
_PIP = re.compile(r"""(?<![\w.-])torch\s*(?:\[[^\]]*\])?\s*((?:[<>=!~]=?\s*[\d.*]+\s*,?\s*)+)""")
_CONDA = re.compile(r"""(?<![\w.-])pytorch\s*=\s*(\d+)\.(\d+)""")
_CLAUSE = re.compile(r"(==|<=|>=|~=|!=|<|>)\s*(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?")
_MAX_BYTES = 200_000


def parse_version(text: str) -> Optional[Version]:
    """`"1.13"` / `"1.13.1"` / `"2"` -> (major, minor); None when it is not a version."""
    m = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?(?:\.\d+)?\s*", text)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def newest_allowed(spec: str) -> Optional[Version]:
    """The newest (major, minor) a specifier such as `>=1.8,<2.0` allows; None when unbounded."""
    best: Optional[Version] = None
    for op, major, minor, micro in _CLAUSE.findall(spec):
        x = int(major)
        y = int(minor) if minor and minor != "*" else None
        bound: Optional[Version] = None
        if op == "==" or op == "<=":
            bound = (x, y if y is not None else _UNBOUNDED_MINOR)
        elif op == "<":
            if y is None or (y == 0 and not (micro and micro not in ("0", "*"))):
                bound = (x - 1, _UNBOUNDED_MINOR)
            else:
                bound = (x, y) if micro and micro not in ("0", "*") else (x, y - 1)
        elif op == "~=":
            bound = (x, _UNBOUNDED_MINOR) if not micro else (x, y if y is not None else 0)
        if bound is not None and (best is None or bound < best):
            best = bound
    return best


def _texts(root: str) -> Iterable[str]:
    paths: List[str] = [os.path.join(root, f) for f in _FILES]
    for pattern in _GLOBS:
        paths += sorted(glob.glob(os.path.join(root, pattern)))
    for path in paths:
        try:
            if os.path.isfile(path) and os.path.getsize(path) <= _MAX_BYTES:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    yield fh.read()
        except OSError:
            continue


def project_torch_max(root: Optional[str]) -> Optional[Version]:
    """The newest torch the project at `root` allows (the strictest of its files), or None."""
    if not root:
        return None
    best: Optional[Version] = None
    for text in _texts(root):
        found = [newest_allowed(m.group(1)) for m in _PIP.finditer(text)]
        found += [(int(a), int(b)) for a, b in _CONDA.findall(text)]
        for v in found:
            if v is not None and (best is None or v < best):
                best = v
    return best


def oldest_allowed(spec: str) -> Optional[Version]:
    """The oldest (major, minor) a specifier such as `>=4.40,<5` allows; None when it has no lower bound."""
    best: Optional[Version] = None
    for op, major, minor, _micro in _CLAUSE.findall(spec):
        if op in ("==", ">=", "~=", ">"):
            bound = (int(major), int(minor) if minor and minor != "*" else 0)
            if best is None or bound > best:
                best = bound
    return best


def project_package_range(root: Optional[str], package: str) -> Tuple[Optional[Version], Optional[Version]]:
    """(oldest, newest) (major, minor) of `package` the project at `root` allows, from the same files as
    torch's; None where its requirements do not bound it (`transformers>=4.40,<5` -> ((4, 40), (4, 999)))."""
    if not root:
        return None, None
    pip = re.compile(rf"""(?<![\w.-]){re.escape(package)}\s*(?:\[[^\]]*\])?\s*((?:[<>=!~]=?\s*[\d.*]+\s*,?\s*)+)""")
    low: Optional[Version] = None
    high: Optional[Version] = None
    for text in _texts(root):
        for m in pip.finditer(text):
            lo, hi = oldest_allowed(m.group(1)), newest_allowed(m.group(1))
            if lo is not None and (low is None or lo > low):
                low = lo
            if hi is not None and (high is None or hi < high):
                high = hi
    return low, high
