"""Which files to lint: recurse into folders, honour excludes and .gitignore.

A path named on the command line is linted even when only the default
excludes (`build`, `.venv`...) would skip it, as ruff does; a user's own
`exclude` still applies to files found inside folders. With `--force-exclude`
(how pre-commit calls the hook: it names every staged file) every exclude
applies to named paths too, to the file and each folder above it.
The same file named twice (`a.py ./a.py`) is linted once.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Optional, Tuple

import pathspec

from freezelint.config import DEFAULT_EXCLUDE, ConfigError, ConfigResolver

# What is linted: Python sources, stubs, and Jupyter notebooks (their Python cells).
SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")


class _GitIgnores:
    """.gitignore files from the repository root down, each relative to its folder."""

    def __init__(self):
        self._specs: Dict[str, Optional[pathspec.PathSpec]] = {}

    def _spec(self, folder: str) -> Optional[pathspec.PathSpec]:
        if folder not in self._specs:
            spec = None
            gi = os.path.join(folder, ".gitignore")
            try:
                with open(gi, encoding="utf-8", errors="replace") as fh:
                    spec = pathspec.GitIgnoreSpec.from_lines(fh)
            except OSError:
                pass
            self._specs[folder] = spec
        return self._specs[folder]

    def ignored(self, path: str, is_dir: bool, stop: str) -> bool:
        """Is `path` ignored by a .gitignore in any folder from `stop` down to its parent?"""
        folder = os.path.dirname(path)
        while True:
            spec = self._spec(folder)
            if spec is not None:
                rel = os.path.relpath(path, folder).replace(os.sep, "/")
                parent = rel.rsplit("/", 1)[0] + "/" if "/" in rel else None
                # Only a match of the entry itself counts. A match inherited from a
                # folder above means the user named a path inside an ignored folder
                # (discovery prunes ignored folders it walks into), and is linted.
                if spec.match_file(rel + ("/" if is_dir else "")) and not (parent and spec.match_file(parent)):
                    return True
            if folder == stop or os.path.dirname(folder) == folder:
                return False
            folder = os.path.dirname(folder)


def _git_root(start: str) -> str:
    d = start
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return start
        d = parent


def discover(paths: List[str], resolver: ConfigResolver) -> Iterator[Tuple[str, bool]]:
    """Yield (path, explicit) for every Python file to lint, in sorted order.

    Raises ConfigError for a path that does not exist.
    """
    gitignores = _GitIgnores()
    seen = set()  # normalised absolute paths: `a.py`, `./a.py` and `/x/a.py` are one file

    def first_time(path: str) -> bool:
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            return False
        seen.add(key)
        return True

    for raw in map(os.fspath, paths):  # callers may pass pathlib.Path objects
        if not os.path.lexists(raw):
            raise ConfigError(f"{raw}: no such file or directory")
        if not os.path.isdir(raw) or raw.rstrip("/" + os.sep).endswith(SOURCE_SUFFIXES):
            if first_time(raw):  # a named folder `x.py` is reported as such (FRZ000), then walked
                yield raw, True
            if not os.path.isdir(raw):
                continue
        root_abs = os.path.abspath(raw)
        stop = _git_root(root_abs)
        for dirpath, dirnames, filenames in os.walk(raw, followlinks=False):
            settings = resolver.for_path(dirpath)
            dir_abs = os.path.abspath(dirpath)
            keep = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                full_abs = os.path.join(dir_abs, d)
                if settings.is_excluded(full_abs):
                    continue
                if settings.respect_gitignore and gitignores.ignored(full_abs, True, stop):
                    continue
                if d.endswith(SOURCE_SUFFIXES) and first_time(full):
                    # A folder named like a Python file is almost surely a mistake:
                    # yield it so reading it reports FRZ000 ("is a directory"), and
                    # still walk into it so nothing inside goes unlinted.
                    yield full, False
                keep.append(d)
            dirnames[:] = keep
            for f in sorted(filenames):
                if not f.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, f)
                full_abs = os.path.join(dir_abs, f)
                if settings.is_excluded(full_abs):
                    continue
                if settings.respect_gitignore and gitignores.ignored(full_abs, False, stop):
                    continue
                if first_time(full):
                    yield full, False


def explicitly_excluded(path: str, resolver: ConfigResolver) -> bool:
    """A file named on the command line is skipped only by the user's own excludes."""
    s = resolver.for_path(path)
    user = tuple(p for p in s.exclude if p not in DEFAULT_EXCLUDE) + s.extend_exclude
    return bool(user) and s.is_excluded(os.path.abspath(path), user)


def force_excluded(path: str, resolver: ConfigResolver) -> bool:
    """`--force-exclude`: is the file, or a folder above it below the config's folder, excluded?"""
    s = resolver.for_path(path)
    current = os.path.abspath(path)
    root = os.path.abspath(s.root)
    inside = current.startswith(root.rstrip(os.sep) + os.sep)
    while True:
        if s.is_excluded(current):
            return True
        parent = os.path.dirname(current)
        # Outside the project root only the file's own name counts: a folder named
        # `build` somewhere above the checkout must not exclude the whole project.
        if not inside or parent == root or parent == current:
            return False
        current = parent


__all__ = ["discover", "explicitly_excluded", "force_excluded"]
