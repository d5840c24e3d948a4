"""The result cache's copy of the resolved project index (see `cache`'s module doc): its digest per key in
the results file, the pickled index in a file per key, unpickled only after its MAC checks out; and the
summaries' JSON and hashes that key it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Dict, List, Optional, Tuple

from freezelint.static.run.cache_folder import open_folder
from freezelint.static.summaries.file_summary import FileSummary

# Resolved indexes kept as files (`check .` and `check one_file.py` order the summaries differently: two keys),
# and index digests kept in the results file.
INDEX_FILES_KEPT = 2
INDEX_DIGESTS_KEPT = 16
MAX_INDEX_BYTES = 256 * 1024 * 1024


def summary_to_json(s: FileSummary) -> dict:
    data = s.to_json()
    if s.classes != [(n, tuple(c.bases)) for n, c in s.class_info.items()]:
        # a class name defined twice (`try: class A(Base) / except ImportError: class A`): both definitions count
        # (project.ambiguous_classes), where class_info keeps one per name
        data["k"] = [[n, list(bases)] for n, bases in s.classes]
    return data


def summary_from_json(data) -> FileSummary:
    s = FileSummary.from_json(data)
    if "k" in data:
        s.classes = [(str(n), tuple(str(b) for b in bases)) for n, bases in data["k"]]
    return s


def summary_hash(text: str) -> str:
    """The hash of a summary's JSON text (`summary_to_json`, as the cache keeps it): what keys the resolved index."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def index_key(modules: List[str], hashes: List[str]) -> str:
    """The key of the index resolved from these summaries (`summary_hash`), of these modules, in this order."""
    h = hashlib.sha256()
    for module, sh in zip(modules, hashes):
        h.update(f"{module}\0{sh}\n".encode())
    return h.hexdigest()[:32]


class IndexCache:
    """The index half of `cache.Cache` (which sets these attributes and calls `_prune` when it saves)."""

    directory: str
    root: str
    build: str
    name: str  # the results file
    off: Optional[str]
    indexes: Dict[str, str]  # index_key -> the digest of the index resolved under it (oldest first)
    _new_index: Optional[Tuple[str, bytes]]  # (key, pickled index) to write
    _secret: Optional[bytes]
    _key_stat: Optional[os.stat_result]
    _inside: bool
    _dirty: bool
    entries: Dict[str, dict]
    sums: Optional[Dict[str, str]]
    new_sums: Dict[str, str]

    def _payload(self, raw: bytes, key_stat: os.stat_result) -> Optional[bytes]:  # pragma: no cover - Cache's
        raise NotImplementedError

    def index_digest(self, key: str) -> Optional[str]:
        """The digest of the index resolved under `key` (`index_key`), if this cache has seen it."""
        return self.indexes.get(key)

    # -- the summaries ---------------------------------------------------------
    def _sums_name(self) -> str:
        return f"summaries-{self.build}.json"

    def _read_json(self, name: str):
        """The JSON of this cache's file `name` when it checks out (no symlink followed); None otherwise."""
        if self._secret is None or self._key_stat is None or self.off is not None:
            return None
        folder, _ = open_folder(self.directory, self.root if self._inside else None, create=False)
        if folder is None:
            return None
        try:
            data = folder.read(name, MAX_INDEX_BYTES + 1)
        finally:
            folder.close()
        payload = self._payload(data[0], self._key_stat) if data is not None and len(data[0]) <= MAX_INDEX_BYTES else None
        try:
            return json.loads(payload) if payload is not None else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    def summary_text(self, sh: Optional[str]) -> Optional[str]:
        """A summary's JSON text by its hash (the summaries file is read on the first ask); None if absent,
        or if it does not hash to `sh` (a summaries file out of step with the results: not trusted)."""
        if sh is None:
            return None
        text = self.new_sums.get(sh)
        if text is None:
            if self.sums is None:
                got = self._read_json(self._sums_name())
                sums = got.get("sums") if isinstance(got, dict) else None
                self.sums = {k: v for k, v in sums.items() if isinstance(v, str)} if isinstance(sums, dict) else {}
            text = self.sums.get(sh)
        return text if text is not None and summary_hash(text) == sh else None

    def _save_sums(self, folder, mac_key: bytes) -> None:
        """The summaries file, rewritten when this run recorded new summaries: those the entries name."""
        if not self.new_sums:
            return
        self.summary_text("")  # the summaries kept so far, read if not yet
        every = {**(self.sums or {}), **self.new_sums}
        named = {e.get("sh") for e in self.entries.values() if isinstance(e, dict)}
        payload = json.dumps({"sums": {sh: t for sh, t in every.items() if sh in named}}, separators=(",", ":")).encode()
        folder.replace(self._sums_name(), hmac.new(mac_key, payload, hashlib.sha256).hexdigest().encode() + b"\n" + payload)

    # -- the index ---------------------------------------------------------------
    def _index_name(self, key: str) -> str:
        return f"index-{self.build}-{key}.pickle"

    def load_index(self, key: str):
        """The index resolved under `key` (before `ProjectIndex.place`), when its file is here and checks out."""
        from freezelint.static.semantic.project import ProjectIndex

        digest = self.indexes.get(key)
        if digest is None or self._secret is None or self._key_stat is None or self.off is not None:
            return None
        folder, _ = open_folder(self.directory, self.root if self._inside else None, create=False)
        if folder is None:
            return None
        try:
            data = folder.read(self._index_name(key), MAX_INDEX_BYTES + 1)
        finally:
            folder.close()
        payload = self._payload(data[0], self._key_stat) if data is not None and len(data[0]) <= MAX_INDEX_BYTES else None
        if payload is None:
            return None
        import pickle

        try:
            index = pickle.loads(payload)
        except Exception:  # a file this cache wrote, from another build of the classes: resolved again
            return None
        return index if isinstance(index, ProjectIndex) and index.digest == digest else None

    def record_index(self, key: str, index) -> None:
        """Keep the index resolved under `key` (call before `ProjectIndex.place`)."""
        import pickle

        self.indexes.pop(key, None)
        self.indexes[key] = index.digest
        while len(self.indexes) > INDEX_DIGESTS_KEPT:
            self.indexes.pop(next(iter(self.indexes)))
        try:
            self._new_index = (key, pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:
            self._new_index = None
        self._dirty = True

    def _save_index(self, folder, mac_key: bytes) -> None:
        """Write the summaries and the index new in this run, if any, then prune."""
        self._save_sums(folder, mac_key)
        if self._new_index is not None:
            key, pickled = self._new_index
            mac = hmac.new(mac_key, pickled, hashlib.sha256).hexdigest().encode()
            folder.replace(self._index_name(key), mac + b"\n" + pickled)
        self._prune(folder)

    def _prune(self, folder) -> None:
        """Other builds' results and indexes are superseded for good; of this build's indexes the newest stay."""
        ours = []
        for name in folder.names():
            if (name.startswith("results-") and name != self.name or name.startswith("summaries-")
                    and name != self._sums_name()) and name.endswith(".json"):
                folder.remove(name)
            elif name.startswith("index-") and name.endswith(".pickle"):
                if not name.startswith(f"index-{self.build}-"):
                    folder.remove(name)
                    continue
                st = folder.stat(name)
                ours.append((st.st_mtime_ns if st is not None else 0, name))
        for _, name in sorted(ours, reverse=True)[INDEX_FILES_KEPT:]:
            folder.remove(name)
