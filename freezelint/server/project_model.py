"""The project as `freezelint check` sees it, kept in memory while the editor is open.

Each project root (the nearest folder with a project marker) holds every Python
file's summary, read once from the result cache or the file, as
`checker._run_paths` does. An open document's in-memory summary replaces its
file's; when a summary changes (an edit, a save, a file changed on disk) the
index is rebuilt and the caller re-lints the open documents of that project.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple

from freezelint.config import ConfigResolver
from freezelint.static.run import engine
from freezelint.static.parse import parsed
from freezelint.static.run.cache import Cache, content_hash, open_cache
from freezelint.static.input.discover import discover
from freezelint.static.semantic.project import FileSummary, ProjectIndex, module_name
from freezelint.static.input.project_root import MARKERS, find_project_root
from freezelint.static.input.source import SourceError

# As checker.MAX_PROJECT_FILES: past this, the project is only the open documents.
MAX_PROJECT_FILES = 20000


def _same(a: Optional[FileSummary], b: Optional[FileSummary]) -> bool:
    if a is None or b is None:
        return a is b
    return a.to_json() == b.to_json()


class Project:
    """One project root: summaries from disk, open documents' summaries over them."""

    def __init__(self, root: str, resolver: ConfigResolver, use_cache: bool = True):
        self.root = root
        self.resolver = resolver
        self.use_cache = use_cache
        self.disk: Dict[str, FileSummary] = {}  # abspath -> summary of the file on disk
        self.open: Dict[str, FileSummary] = {}  # abspath -> summary of the editor's text
        self._index: Optional[ProjectIndex] = None
        self._started = False
        self._files: Optional[Iterator[Tuple[str, bool]]] = None  # discovery still to go on with
        self._count = 0
        self._store: Optional[Cache] = None
        self.messages: List[str] = []  # one line each, for the client's log

    @property
    def has_marker(self) -> bool:
        return any(os.path.lexists(os.path.join(self.root, m)) for m in MARKERS)

    @property
    def loaded(self) -> bool:
        """Every file of the project is read (Project.load ran to its end)."""
        return self._started and self._files is None

    def load(self, budget: Optional[float] = None) -> bool:
        """Summarise the project's files, from the cache when their stat is unchanged.

        With a budget (seconds), stop when it is spent and go on at the next call,
        so the first diagnostics of a large project with a cold cache need not wait
        for every file. True once every file is read.
        """
        if not self._started:
            self._started = True
            if not self.has_marker:
                return True
            if self.use_cache:
                self._store, why = open_cache(None, [self.root])
                if why:
                    self.messages.append(why)
            self._files = discover([self.root], self.resolver)
        if self._files is None:
            return True
        deadline = None if budget is None else time.monotonic() + budget
        for path, _explicit in self._files:
            if not path.endswith((".py", ".pyi")):
                continue
            self._count += 1
            if self._count > MAX_PROJECT_FILES:
                self.disk = {p: s for p, s in self.disk.items() if p in self.open}
                self.messages.append(f"{self.root}: over {MAX_PROJECT_FILES} files; cross-file facts come from open files only")
                break
            abspath = os.path.abspath(path)
            summary = self._summarize(abspath, self._store)
            if summary is not None:
                self.disk[abspath] = summary
            self._index = None
            if deadline is not None and time.monotonic() > deadline:
                parsed.forget()
                return False
        self._files = None
        parsed.forget()  # the trees of summarised files: no lint phase follows here
        if self._store is not None:
            try:
                self._store.save()
            except OSError:
                pass
            self._store = None
        return True

    def _summarize(self, abspath: str, store: Optional[Cache]) -> Optional[FileSummary]:
        st = None
        if store is not None:
            try:
                st = os.stat(abspath)
            except OSError:
                return None
            cached = store.lookup_stat(abspath, st)
            if cached is not None:
                summary = store.summary_of(cached)
                if summary is not None:
                    return summary
        try:
            src = engine.read_source(abspath, self.resolver.for_path(abspath).max_file_size)
        except SourceError:
            return None  # reported only where it is linted itself
        summary = engine.summarize_text(src.text)
        if store is not None and st is not None:
            store.record_file(abspath, st, content_hash(src.raw), summary)
        return summary

    # -- changes ------------------------------------------------------------------
    def set_open(self, abspath: str, summary: Optional[FileSummary]) -> bool:
        """Record an open document's summary (None: it does not parse); True if the index changes."""
        before = self.open.get(abspath, self.disk.get(abspath))
        if summary is None:  # keep the last good facts while the user types a broken line
            return False
        self.open[abspath] = summary
        if _same(before, summary):
            return False
        self._index = None
        return True

    def closed(self, abspath: str) -> bool:
        """The document is closed: its file's summary counts again. True if the index changes."""
        before = self.open.pop(abspath, None)
        if before is None:
            return False
        self._reread(abspath)
        if _same(before, self.disk.get(abspath)):
            return False
        self._index = None
        return True

    def disk_changed(self, abspath: str) -> bool:
        """A file changed (or went) on disk: re-read its summary. True if the index changes."""
        before = self.disk.get(abspath)
        self._reread(abspath)
        if abspath in self.open or _same(before, self.disk.get(abspath)):
            return False  # an open document's text wins over its file
        self._index = None
        return True

    def _reread(self, abspath: str) -> None:
        summary = None
        if abspath.endswith((".py", ".pyi")) and os.path.isfile(abspath):
            summary = self._summarize(abspath, None)
            parsed.forget()  # no lint phase follows: drop the tree the engine kept for one
        if summary is None:
            self.disk.pop(abspath, None)
        else:
            self.disk[abspath] = summary

    # -- the index ------------------------------------------------------------------
    def index(self) -> ProjectIndex:
        if self._index is None:
            merged = dict(self.disk)
            merged.update(self.open)
            paths = sorted(merged)
            root = self.root if self.has_marker or merged else None
            self._index = ProjectIndex.build([merged[p] for p in paths], [module_name(p, root) for p in paths], root)
        return self._index


class Projects:
    """Every project the editor has opened a file of, by root. One lock: one lint at a time."""

    def __init__(self, resolver: Optional[ConfigResolver] = None, use_cache: bool = True):
        self.resolver = resolver or ConfigResolver()
        self.use_cache = use_cache
        self.by_root: Dict[str, Project] = {}
        self.lock = threading.RLock()

    def for_path(self, path: str, budget: Optional[float] = None) -> Project:
        """The file's project, its files read (within `budget` seconds: see Project.load)."""
        root = find_project_root([path], cwd=os.path.dirname(os.path.abspath(path)))
        project = self.by_root.get(root)
        if project is None:
            project = self.by_root[root] = Project(root, self.resolver, self.use_cache)
        project.load(budget)
        return project

    def reset_settings(self) -> None:
        """A config file changed: settings are read again; summaries stay (they do not depend on them)."""
        self.resolver = ConfigResolver()
        for project in self.by_root.values():
            project.resolver = self.resolver

    def owner_of(self, abspath: str) -> Tuple[Optional[Project], bool]:
        """The loaded project whose files include abspath, and whether it has a summary of it."""
        for project in self.by_root.values():
            if abspath in project.disk or abspath in project.open:
                return project, True
        for root, project in self.by_root.items():
            if abspath.startswith(root.rstrip(os.sep) + os.sep):
                return project, False
        return None, False
