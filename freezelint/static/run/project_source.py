"""The project index of one run, resolved only when something needs more than its digest.

A warm run whose summaries are all those of an earlier run (the same hashes, modules and order:
`cache_index.index_key`) takes the index's digest from the cache: if every linted file's
findings are cached under it, no index is loaded or resolved at all. A file to lint (or fix)
loads the index the cache kept for that key, or resolves it from the summaries (and the cache
keeps it). Without a cache, or with a summary the cache has no hash for, it is resolved as before.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

from freezelint.static.run.cache import Cache
from freezelint.static.run.cache_index import index_key
from freezelint.static.semantic.project import FileSummary, ProjectIndex


class CachedSummary:
    """A summary the cache holds, read and decoded only when the index is resolved here."""

    __slots__ = ("store", "entry", "redo", "redone")

    def __init__(self, store: Cache, entry: dict, redo: Callable[[], FileSummary]):
        self.store = store
        self.entry = entry
        self.redo = redo  # reads and summarises the file again when the entry does not decode
        self.redone = False

    def decoded(self) -> FileSummary:
        got = self.store.summary_of(self.entry)
        if got is None:
            self.redone = True  # its hash no longer says what was resolved: the index is not kept
            got = self.redo()
        return got


class ProjectSource:
    def __init__(self, store: Optional[Cache], summaries: List[object], modules: Sequence[str],
                 hashes: Sequence[Optional[str]], root: Optional[str], torch_version: Optional[Tuple[int, int]]):
        self.store = store
        self.summaries: Optional[List[object]] = summaries
        self.modules = list(modules)
        self.root = root
        self.torch_version = torch_version
        self.key: Optional[str] = None
        if store is not None and all(hashes):
            self.key = index_key(self.modules, list(hashes))  # type: ignore[arg-type]
        self._index: Optional[ProjectIndex] = None
        self._digest: Optional[str] = None

    @property
    def digest(self) -> str:
        """The index's digest (what cached results are keyed by), from the cache when it knows the key."""
        if self._digest is None:
            base = self.store.index_digest(self.key) if self.store is not None and self.key is not None else None
            if base is not None:
                self._digest = ProjectIndex(digest=base).place(self.root, self.torch_version).digest
            else:
                self._digest = self.index.digest
        return self._digest

    @property
    def index(self) -> ProjectIndex:
        if self._index is None:
            got = self.store.load_index(self.key) if self.store is not None and self.key is not None else None
            if got is None:
                lazy = [s for s in self.summaries or () if isinstance(s, CachedSummary)]
                summaries = [s.decoded() if isinstance(s, CachedSummary) else s for s in self.summaries or ()]
                got = ProjectIndex.resolve(summaries, self.modules)
                if self.store is not None and self.key is not None and not any(s.redone for s in lazy):
                    self.store.record_index(self.key, got)  # before place(): what the key says, no more
            self.summaries = None  # what the index holds is all that is needed of them now
            self._index = got.place(self.root, self.torch_version)
        return self._index
