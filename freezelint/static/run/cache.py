"""The result cache (ruff-style): findings per file, reused while nothing they depend on changed.

One results file per freezelint build in `.freezelint_cache/` at the project
root (`project_root.find_project_root`), or wherever `--cache-dir` /
`FREEZELINT_CACHE_DIR` say. Per file (keyed by its path relative to the
project root, so a cache restored at another checkout path still hits) it keeps:

- the file's size and mtime, and the hash of its bytes: a file whose stat is
  unchanged is not even read (a file whose mtime is too recent to trust is
  always hashed, as git does for "racily clean" files);
- its project summary (what it feeds into the cross-file Module index), so a
  warm run rebuilds the index without reading any file;
- its findings under a result key made of the freezelint build, the effective
  settings that select rules for this file, and the digest of the cross-file
  index. Any change to any file's class headers changes the digest, so no
  result computed against an older index is ever reused.

What is trusted. A results file is read only if its HMAC-SHA256 checks out
under a key derived from the cache's own random secret (`key`, created with
O_EXCL and mode 0600 at the first write). The secret alone proves nothing if
the repository shipped it, so the key also says where the secret came from:

- the folder is outside the project (named by --cache-dir or the environment
  variable): the repository cannot put files there; the key is portable;
- inside the project, git says nothing in the folder is tracked: a clone or a
  fetched branch cannot have delivered it; portable (an `actions/cache`
  restore at another path hits);
- inside the project, something in the folder is tracked: the cache is off
  (one-line warning), never read nor written;
- inside the project, no git work tree (or git cannot answer): the key is
  bound to the secret file's device, inode and ctime, which no archive or
  copy can reproduce: a cache copied in is never trusted, one moved along
  with the project (same file system) still is.

Also kept: the cross-file index resolved from the summaries (`ProjectIndex.resolve`),
keyed by the hashes of the summaries it was resolved from, in order, with their
module names (`index_key`): its digest in the results file, so a run whose linted
files all hit their results needs no index at all, and the index itself in one
file per key (`index-<build>-<key>.pickle`, the newest `INDEX_FILES_KEPT`), so a
run that lints a file loads it instead of resolving it again. Any changed summary
changes the key.

The results are JSON; the index is a pickle, unpickled only after its MAC checks
out under the same key (so only what this cache wrote is ever unpickled). Writes
go through `cache_folder` (no symlink followed, new files exclusive, atomic
rename). A cache file that cannot be read, has the wrong shape or the wrong MAC
is treated as empty (an index that cannot be unpickled is resolved again); one
that cannot be written is skipped silently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from dataclasses import fields, replace
from typing import Dict, Iterable, List, Optional, Tuple

from freezelint.findings import Finding
from freezelint.static.run.cache_folder import SYMLINK, git_tracked, open_folder
from freezelint.static.run.cache_index import IndexCache, summary_from_json, summary_hash, summary_to_json
from freezelint.static.summaries.file_summary import FileSummary
from freezelint.static.input.project_root import find_project_root, is_within, relative_key

CACHE_DIR_NAME = ".freezelint_cache"
ENV_VAR = "FREEZELINT_CACHE_DIR"
FORMAT = 3  # 3: summaries apart (cache_index: read only when the index is resolved), each entry with its hash
KEY_FILE = "key"
# A file modified this recently (seconds) may change again within the mtime's
# granularity without its stat changing: hash it next time instead of trusting the stat.
RACY_SECONDS = 2.0
# Result keys kept per file (e.g. default rules and --select ALL side by side).
MAX_RESULTS_PER_FILE = 4
MAX_RESULTS_BYTES = 256 * 1024 * 1024  # a bigger results file is not ours: ignored

_BUILD_ID: Optional[str] = None

def build_id() -> str:
    """The freezelint version plus a hash of the contents of its own files
    (code and the data files beside it), and the Python it runs on.

    The version alone would keep stale results while the rules are being
    edited in a development checkout. Contents, not mtimes: a fresh install
    (every CI run) gives every file a new mtime, and results keyed by it
    would never be reused. Hashing the package's ~1 MB costs a few ms.
    """
    global _BUILD_ID
    import freezelint

    if _BUILD_ID is None:
        h = hashlib.blake2b(digest_size=8)
        pkg = os.path.dirname(os.path.abspath(freezelint.__file__))
        for dirpath, dirnames, filenames in os.walk(pkg):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(filenames):
                if f.endswith((".pyc", ".pyo")):
                    continue
                full = os.path.join(dirpath, f)
                try:
                    with open(full, "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue
                h.update(f"{os.path.relpath(full, pkg)}:{len(data)}:".encode())
                h.update(data)
        _BUILD_ID = h.hexdigest()
    # the interpreter too: which syntax parses (FRZ000) depends on it
    return f"{freezelint.__version__}-{sys.implementation.cache_tag}-{_BUILD_ID}"


def open_cache(cli_value: Optional[str], paths: Iterable[str]) -> Tuple[Optional["Cache"], Optional[str]]:
    """The loaded cache for a run over `paths`, or (None, why) when it must stay off.

    `cli_value` (--cache-dir) wins over FREEZELINT_CACHE_DIR, which wins over
    `.freezelint_cache` at the project root.
    """
    root = find_project_root(paths)
    directory = cli_value or os.environ.get(ENV_VAR) or os.path.join(root, CACHE_DIR_NAME)
    store = Cache(os.path.abspath(directory), root).load()
    if store.off is not None:
        return None, store.off
    return store, None


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def result_key(settings_key: str, project_digest: str) -> str:
    return hashlib.sha256(f"{build_id()}|{settings_key}|{project_digest}".encode()).hexdigest()[:24]


# Settings fields that only decide which files are found or how findings are
# printed. Every other field goes into the result key, so a field added later
# invalidates cached results by default instead of being silently ignored.
_NOT_IN_KEY = frozenset(
    {"root", "config_file", "exclude", "extend_exclude", "output_format", "output_format_set", "respect_gitignore", "docs_url"}
)


def settings_key(settings, project_root: Optional[str] = None) -> str:
    """Everything in the settings that decides which rules run on a file and how.

    Keyed on the selectors as written (not the expanded code set), so a warm
    run need not load the rules: with the build id in the key, the same
    selectors always expand to the same codes. The settings' root (what
    per-file-ignores patterns are relative to) counts only where there are such
    patterns, and relative to the project root, so the key survives a move.
    """
    parts = {f.name: _jsonable(getattr(settings, f.name)) for f in fields(settings) if f.name not in _NOT_IN_KEY}
    if settings.per_file_ignores:
        root = os.path.abspath(str(settings.root))
        parts["root"] = relative_key(root, project_root) if project_root else root
    return json.dumps(parts, sort_keys=True)


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def resolve_cache_dir(cli_value: Optional[str], first_path: str, config_file=None) -> str:
    """The cache folder for a run (the interface before `open_cache`, which also says why a cache is off)."""
    del config_file  # the project root no longer follows the config file
    return os.path.abspath(cli_value or os.environ.get(ENV_VAR) or os.path.join(find_project_root([first_path]), CACHE_DIR_NAME))


class Cache(IndexCache):
    """The cache for one run. `load()` once, query and record, then `save()`.

    Files are named by absolute path in every method; entries are keyed by the
    path relative to `root` (the project root).
    """

    def __init__(self, directory: str, root: Optional[str] = None):
        self.directory = directory
        self.root = root if root is not None else os.path.dirname(directory)
        self.build = build_id()
        self.name = f"results-v{FORMAT}-{self.build}.json"
        self.path = os.path.join(directory, self.name)
        self.entries: Dict[str, dict] = {}
        self.indexes: Dict[str, str] = {}  # index_key -> the digest of the index resolved under it (oldest first)
        self._new_index: Optional[Tuple[str, bytes]] = None  # (key, pickled index) to write
        self.sums: Optional[Dict[str, str]] = None  # summary hash -> its JSON text, once read (cache_index)
        self.new_sums: Dict[str, str] = {}  # those recorded in this run
        self._key_stat: Optional[os.stat_result] = None
        self.off: Optional[str] = None  # why the cache is off (one line), if it is
        self._inside = is_within(directory, self.root)
        normal = os.path.isabs(self.root) and os.path.normpath(self.root) == self.root and self.root != os.sep
        self._prefix = self.root + os.sep if normal and not self.root.endswith(os.sep) else "\0"  # "\0": no fast key
        self._portable: Optional[bool] = None  # None: not decided yet (see _decide_trust)
        self._secret: Optional[bytes] = None
        self._dirty = False
        self._started = time.time()

    def _key(self, abspath: str) -> str:
        # a normalised path below the (normalised) root: what relative_key gives, without its commonpath/relpath
        # (a run asks once per project file: 2,900 in transformers)
        if abspath.startswith(self._prefix) and abspath == os.path.normpath(abspath):
            rel = abspath[len(self._prefix):]
            return rel.replace(os.sep, "/") if os.sep != "/" else rel
        return relative_key(abspath, self.root)

    # -- trust ------------------------------------------------------------------
    def _decide_trust(self) -> bool:
        """Decide how the MAC key is bound (see the module doc); False: the cache is off."""
        if self._portable is not None:
            return True
        if not self._inside:
            self._portable = True
            return True
        tracked = git_tracked(self.directory)
        if tracked:
            self._refuse(f"{self._shown()} is tracked by git (a cache that comes with the repository is never trusted)")
            return False
        self._portable = tracked is False
        return True

    def _refuse(self, why: str) -> None:
        self.off = f"cache off: {why}"
        self.entries = {}

    def _shown(self) -> str:
        return relative_key(self.directory, os.getcwd()) if is_within(self.directory, os.getcwd()) else self.directory

    def _mac_key(self, key_stat: os.stat_result) -> bytes:
        assert self._secret is not None
        if self._portable:
            context = b"portable"
        else:  # which file holds the secret: an archive or copy makes a different one
            context = f"file:{key_stat.st_dev}:{key_stat.st_ino}:{key_stat.st_ctime_ns}".encode()
        return hmac.new(self._secret, context, hashlib.sha256).digest()

    # -- reading ----------------------------------------------------------------
    def load(self) -> "Cache":
        if is_within(self.root, self.directory):
            # its .gitignore (`*`) would ignore the whole project, and prunes would run there
            self._refuse(f"{self._shown()} is the project folder or holds it; name a folder of its own")
            return self
        folder, problem = open_folder(self.directory, self.root if self._inside else None, create=False)
        if problem == SYMLINK:
            self._refuse(f"{self._shown()} is a symlink or lies behind one (a cache folder inside the project "
                         "must be a real folder; nothing is written through a link)")
        if folder is None:
            return self
        try:
            if not self._decide_trust():
                return self
            key = folder.read(KEY_FILE, 1024)
            secret = _parse_secret(key[0]) if key is not None else None
            if secret is None:
                return self
            self._secret = secret
            self._key_stat = key[1]
            data = folder.read(self.name, MAX_RESULTS_BYTES + 1)
            if data is None or len(data[0]) > MAX_RESULTS_BYTES:
                return self
            self.entries, self.indexes = self._verified(data[0], key[1])
        finally:
            folder.close()
        return self

    def _payload(self, raw: bytes, key_stat: os.stat_result) -> Optional[bytes]:
        """What a file of this cache holds, when its MAC checks out under this cache's key."""
        mac, _, payload = raw.partition(b"\n")
        good = hmac.new(self._mac_key(key_stat), payload, hashlib.sha256).hexdigest().encode()
        return payload if hmac.compare_digest(mac, good) else None  # else not written with this key: ignored

    def _verified(self, raw: bytes, key_stat: os.stat_result) -> Tuple[Dict[str, dict], Dict[str, str]]:
        payload = self._payload(raw, key_stat)
        if payload is None:
            return {}, {}
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return {}, {}
        if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("files"), dict):
            got = data.get("index")
            indexes = {k: v for k, v in got.items() if isinstance(v, str)} if isinstance(got, dict) else {}
            return data["files"], indexes
        return {}, {}

    def lookup_stat(self, abspath: str, st: os.stat_result) -> Optional[dict]:
        """The entry for a file whose stat shows it unchanged since it was recorded."""
        e = self.entries.get(self._key(abspath))
        if not isinstance(e, dict):
            return None
        m = e.get("m")
        if isinstance(m, int) and m >= 0 and m == st.st_mtime_ns and e.get("s") == st.st_size and isinstance(e.get("h"), str):
            return e
        return None

    def lookup_hash(self, abspath: str, digest: str) -> Optional[dict]:
        e = self.entries.get(self._key(abspath))
        if isinstance(e, dict) and e.get("h") == digest:
            return e
        return None

    def summary_of(self, entry: dict) -> Optional[FileSummary]:
        """The summary an entry names (from the summaries file, read on the first ask); None if it is not there."""
        text = self.summary_text(self.summary_hash_of(entry))
        try:
            return summary_from_json(json.loads(text)) if text is not None else None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
            return None

    @staticmethod
    def summary_hash_of(entry: dict) -> Optional[str]:
        sh = entry.get("sh")
        return sh if isinstance(sh, str) else None

    def results(self, abspath: str, digest: str, key: str, path: str) -> Optional[Tuple[List[Finding], bool]]:
        """Cached (findings, error) for this content under this result key, with `path` as reported now."""
        e = self.lookup_hash(abspath, digest)
        if e is None:
            return None
        res = e.get("r")
        if not isinstance(res, dict) or key not in res:
            return None
        try:
            rec = res[key]
            findings = [replace(Finding.from_dict(d), path=path) for d in rec["f"]]
            return findings, bool(rec["e"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    # -- writing ----------------------------------------------------------------
    def record_file(self, abspath: str, st: os.stat_result, digest: str, summary: FileSummary) -> str:
        """Record a file's stat, hash and summary (keeps its results if the content is unchanged); returns the
        summary's hash (`summary_hash`)."""
        k = self._key(abspath)
        old = self.entries.get(k)
        results = old.get("r") if isinstance(old, dict) and old.get("h") == digest and isinstance(old.get("r"), dict) else {}
        racy = st.st_mtime >= self._started - RACY_SECONDS
        text = json.dumps(summary_to_json(summary), separators=(",", ":"))
        sh = summary_hash(text)
        self.new_sums[sh] = text
        self.entries[k] = {
            "m": -1 if racy else st.st_mtime_ns,
            "s": st.st_size,
            "h": digest,
            "sh": sh,
            "r": results,
        }
        self._dirty = True
        return sh

    def record_results(self, abspath: str, digest: str, key: str, findings: List[Finding], error: bool) -> None:
        e = self.entries.get(self._key(abspath))
        if not isinstance(e, dict) or e.get("h") != digest:
            return
        res = e.get("r")
        if not isinstance(res, dict):
            res = e["r"] = {}
        res.pop(key, None)
        while len(res) >= MAX_RESULTS_PER_FILE:
            res.pop(next(iter(res)))
        res[key] = {"f": [f.to_dict() for f in findings], "e": error}
        self._dirty = True

    def save(self) -> None:
        if self.off is not None or not self._dirty:
            return
        try:
            folder, _ = open_folder(self.directory, self.root if self._inside else None, create=True)
            if folder is None:
                return  # a symlink appeared, or the folder cannot be made: run without cache
            try:
                self._save_into(folder)
            finally:
                folder.close()
        except OSError:
            pass  # a read-only checkout still lints; it just does not get faster

    def _save_into(self, folder) -> None:
        if not self._decide_trust():
            return
        folder.create(".gitignore", b"# Automatically created by freezelint.\n*\n")
        folder.create("CACHEDIR.TAG", b"Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by freezelint.\n")
        if self._secret is None:
            key = folder.read(KEY_FILE, 1024)  # another run may have made one since we looked
            self._secret = _parse_secret(key[0]) if key is not None else None
        if self._secret is None:
            folder.remove(KEY_FILE)  # not a key we wrote (garbage, a symlink): unlinked, never followed
            fresh = secrets.token_hex(32).encode()
            if not folder.create(KEY_FILE, fresh + b"\n", mode=0o600):
                return
            self._secret = _parse_secret(fresh)
        key_stat = folder.stat(KEY_FILE)
        if key_stat is None:
            return
        mac_key = self._mac_key(key_stat)
        payload = json.dumps({"format": FORMAT, "files": self.entries, "index": self.indexes}, separators=(",", ":")).encode()
        mac = hmac.new(mac_key, payload, hashlib.sha256).hexdigest().encode()
        folder.replace(self.name, mac + b"\n" + payload)
        self._save_index(folder, mac_key)  # and the summaries, if new ones were recorded


def _parse_secret(raw: bytes) -> Optional[bytes]:
    """The secret in a key file: 64 hex digits (anything else is not a key we wrote)."""
    text = raw.strip()
    if len(text) != 64:
        return None
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
