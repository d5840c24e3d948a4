"""The project root: where the result cache lives and what its keys are relative to."""

from __future__ import annotations

import os
from typing import Iterable, Optional

# A folder holding one of these is a project's top.
MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")


def find_project_root(paths: Iterable[str], cwd: Optional[str] = None) -> str:
    """The nearest folder at or above every linted path that holds a project marker.

    Without a marker: the working directory if every path is inside it (as ruff
    does), else the paths' common folder, so every linted file stays below the
    root and has a relative path there. `-` (stdin) is not a path here.
    """
    cwd = os.path.abspath(cwd or os.getcwd())
    starts = []
    for p in paths:
        if p == "-":
            continue
        a = os.path.abspath(p)
        starts.append(a if os.path.isdir(a) else os.path.dirname(a))
    if not starts:
        return cwd
    try:
        common = os.path.commonpath(starts)
    except ValueError:  # paths on different drives (Windows): no common folder
        return cwd
    d = common
    while True:
        if any(os.path.lexists(os.path.join(d, m)) for m in MARKERS):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return cwd if is_within(common, cwd) else common


def is_within(path: str, folder: str) -> bool:
    """True if `path` is `folder` or below it (both absolute, compared as written)."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:
        return False


def relative_key(abspath: str, root: str) -> str:
    """`abspath` relative to `root` with `/` separators; the absolute path if it lies outside."""
    if is_within(abspath, root):
        rel = os.path.relpath(abspath, root)
        return rel.replace(os.sep, "/") if os.sep != "/" else rel
    return abspath
