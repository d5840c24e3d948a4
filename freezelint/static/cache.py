"""The result cache (ruff-style): findings per file, reused while nothing they depend on changed.

One JSON file per freezelint build in `.freezelint_cache/` at the project root
(the folder of the nearest config file, else the git root, else the working
directory), or wherever `--cache-dir` / `FREEZELINT_CACHE_DIR` say. Per file
(absolute path) it keeps:

- the file's size and mtime, and the hash of its bytes: a file whose stat is
  unchanged is not even read (a file whose mtime is too recent to trust is
  always hashed, as git does for "racily clean" files);
- its project summary (what it feeds into the cross-file Module index), so a
  warm run rebuilds the index without reading any file;
- its findings under a result key made of the freezelint build, the effective
  settings that select rules for this file, and the digest of the cross-file
  index. Any change to any file's class headers changes the digest, so no
  result computed against an older index is ever reused.

Findings are cached too, not only clean files. JSON, not pickle: a cache folder
that came with a checkout must not be able to run code. Writes are atomic
(temp file + rename); a cache that cannot be read or has the wrong shape is
treated as empty, and one that cannot be written is skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import replace
from typing import Dict, List, Optional, Tuple

from freezelint.findings import Finding
from freezelint.static.project import FileSummary

CACHE_DIR_NAME = ".freezelint_cache"
ENV_VAR = "FREEZELINT_CACHE_DIR"
FORMAT = 1
# A file modified this recently (seconds) may change again within the mtime's
# granularity without its stat changing: hash it next time instead of trusting the stat.
RACY_SECONDS = 2.0
# Result keys kept per file (e.g. default rules and --select ALL side by side).
MAX_RESULTS_PER_FILE = 4

_BUILD_ID: Optional[str] = None


def build_id() -> str:
    """The freezelint version plus a fingerprint of its own source files.

    The version alone would keep stale results while the rules are being
    edited in a development checkout; the stat of ~50 files costs well under a
    millisecond.
    """
    global _BUILD_ID
    import freezelint

    if _BUILD_ID is None:
        h = hashlib.sha256()
        pkg = os.path.dirname(os.path.abspath(freezelint.__file__))
        for dirpath, dirnames, filenames in os.walk(pkg):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(filenames):
                if f.endswith(".py"):
                    try:
                        st = os.stat(os.path.join(dirpath, f))
                    except OSError:
                        continue
                    h.update(f"{os.path.relpath(os.path.join(dirpath, f), pkg)}:{st.st_size}:{st.st_mtime_ns};".encode())
        _BUILD_ID = h.hexdigest()[:16]
    return f"{freezelint.__version__}-{_BUILD_ID}"


def find_project_root(path: str, config_file: Optional[os.PathLike] = None) -> str:
    """The folder of the config file in effect, else the git root above `path`, else cwd."""
    if config_file is not None:
        return os.path.dirname(os.path.abspath(config_file))
    d = os.path.abspath(path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.getcwd()
        d = parent


def resolve_cache_dir(cli_value: Optional[str], first_path: str, config_file=None) -> str:
    if cli_value:
        return os.path.abspath(cli_value)
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.abspath(env)
    return os.path.join(find_project_root(first_path, config_file), CACHE_DIR_NAME)


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def summary_to_json(s: FileSummary) -> list:
    return [[[n, list(b)] for n, b in s.classes], list(s.option_classes), list(s.def_params)]


def summary_from_json(data) -> FileSummary:
    classes, option, params = data
    return FileSummary(
        classes=[(str(n), tuple(str(b) for b in bases)) for n, bases in classes],
        option_classes=[str(x) for x in option],
        def_params=[str(x) for x in params],
    )


def result_key(settings_key: str, project_digest: str) -> str:
    return hashlib.sha256(f"{build_id()}|{settings_key}|{project_digest}".encode()).hexdigest()[:24]


def settings_key(settings) -> str:
    """Everything in the settings that decides which rules run on a file and how.

    Keyed on the selectors as written (not the expanded code set), so a warm
    run need not load the rules: with the build id in the key, the same
    selectors always expand to the same codes.
    """
    return json.dumps(
        [
            list(settings.select) if settings.select is not None else None,
            list(settings.extend_select),
            list(settings.ignore),
            [[p, list(c)] for p, c in settings.per_file_ignores],
            str(settings.root),
            settings.max_file_size,
        ]
    )


class Cache:
    """The cache for one run. `load()` once, query and record, then `save()`."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, f"results-v{FORMAT}-{build_id()}.json")
        self.entries: Dict[str, dict] = {}
        self._dirty = False
        self._started = time.time()

    # -- reading ----------------------------------------------------------------
    def load(self) -> "Cache":
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read())
            if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("files"), dict):
                self.entries = data["files"]
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            self.entries = {}
        return self

    def lookup_stat(self, abspath: str, st: os.stat_result) -> Optional[dict]:
        """The entry for a file whose stat shows it unchanged since it was recorded."""
        e = self.entries.get(abspath)
        if not isinstance(e, dict):
            return None
        m = e.get("m")
        if isinstance(m, int) and m >= 0 and m == st.st_mtime_ns and e.get("s") == st.st_size and isinstance(e.get("h"), str):
            return e
        return None

    def lookup_hash(self, abspath: str, digest: str) -> Optional[dict]:
        e = self.entries.get(abspath)
        if isinstance(e, dict) and e.get("h") == digest:
            return e
        return None

    @staticmethod
    def summary_of(entry: dict) -> Optional[FileSummary]:
        try:
            return summary_from_json(entry["sum"])
        except (KeyError, TypeError, ValueError):
            return None

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
    def record_file(self, abspath: str, st: os.stat_result, digest: str, summary: FileSummary) -> None:
        """Record a file's stat, hash and summary (keeps its results if the content is unchanged)."""
        old = self.entries.get(abspath)
        results = old.get("r") if isinstance(old, dict) and old.get("h") == digest and isinstance(old.get("r"), dict) else {}
        racy = st.st_mtime >= self._started - RACY_SECONDS
        self.entries[abspath] = {
            "m": -1 if racy else st.st_mtime_ns,
            "s": st.st_size,
            "h": digest,
            "sum": summary_to_json(summary),
            "r": results,
        }
        self._dirty = True

    def record_results(self, abspath: str, digest: str, key: str, findings: List[Finding], error: bool) -> None:
        e = self.entries.get(abspath)
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
        if not self._dirty:
            return
        try:
            _ensure_dir(self.directory)
            payload = json.dumps({"format": FORMAT, "files": self.entries}, separators=(",", ":")).encode()
            fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            self._prune_old()
        except OSError:
            pass  # a read-only checkout still lints; it just does not get faster

    def _prune_old(self) -> None:
        """Remove result files of other freezelint builds (each is superseded for good)."""
        mine = os.path.basename(self.path)
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name.startswith("results-") and name.endswith(".json") and name != mine:
                try:
                    os.unlink(os.path.join(self.directory, name))
                except OSError:
                    pass


def _ensure_dir(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    gi = os.path.join(directory, ".gitignore")
    if not os.path.exists(gi):
        with open(gi, "w", encoding="utf-8") as fh:
            fh.write("# Automatically created by freezelint.\n*\n")
    tag = os.path.join(directory, "CACHEDIR.TAG")
    if not os.path.exists(tag):
        with open(tag, "w", encoding="utf-8") as fh:
            fh.write("Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by freezelint.\n")
