"""`freezelint check` without the command line: discover, read, index, lint, fix."""

from __future__ import annotations

import contextlib
import gc
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

from freezelint.config import ConfigResolver, Settings
from freezelint.findings import Applicability, Finding
from freezelint.static.run import engine
from freezelint.static.run.cache import Cache, content_hash, open_cache, result_key, settings_key
from freezelint.static.input.discover import discover, explicitly_excluded, force_excluded
from freezelint.static.fix.fixer import FileChangedError, fix_text, unified_diff, write_atomic
from freezelint.static.semantic.project import ProjectIndex, module_name
from freezelint.static.input.project_root import find_project_root
from freezelint.static.run.pool import AffinityPool
from freezelint.static.run.project_source import CachedSummary, ProjectSource
from freezelint.static.run.pool import usable as pool_usable
from freezelint.static.input.notebook import decode_path
from freezelint.static.input.source import Source, SourceError
from freezelint.target_version import explain_syntax_error

# progress(phase, done, total): "read" while files are summarised, "lint" while linted.
Progress = Callable[[str, int, int], None]


@dataclass
class CheckRequest:
    paths: List[str]
    resolver: ConfigResolver
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    jobs: int = 0  # 0: one per core
    stdin: Optional[bytes] = None  # the text of `-`
    stdin_filename: Optional[str] = None
    no_cache: bool = False
    cache_dir: Optional[str] = None  # default: FREEZELINT_CACHE_DIR, else .freezelint_cache at the project root
    force_exclude: bool = False  # apply every exclude to named paths too (pre-commit)
    progress: Optional[Progress] = None


@dataclass
class CheckResult:
    findings: List[Finding] = field(default_factory=list)
    files: int = 0
    errors: int = 0  # files that could not be read or parsed
    fixed: int = 0
    diffs: List[str] = field(default_factory=list)
    stdin_output: Optional[str] = None  # fixed stdin text, when fixing `-`
    unsafe_hidden: int = 0
    messages: List[str] = field(default_factory=list)  # one-line warnings for stderr
    fixed_by_file: Dict[str, Counter] = field(default_factory=dict)  # path -> code -> fixes applied
    would_fix: int = 0  # --diff: the fixes the diffs hold


def _wants_fix(f: Finding, unsafe: bool) -> bool:
    return f.fix is not None and (unsafe or f.fix.applicability is Applicability.SAFE)


def run_check(req: CheckRequest) -> CheckResult:
    with _fewer_gc_passes():
        if req.paths == ["-"] or req.stdin is not None:
            return _run_stdin(req)
        return _run_paths(req)


@contextlib.contextmanager
def _fewer_gc_passes():
    """Syntax trees are large and acyclic: the cyclic collector's default thresholds make it
    traverse them over and over (a quarter of a cold run). Collect rarely; facts' cycles still go."""
    old = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _run_stdin(req: CheckRequest) -> CheckResult:
    result = CheckResult(files=1)
    name = req.stdin_filename or "-"
    settings = req.resolver.for_path(req.stdin_filename or os.path.join(os.getcwd(), "-"))
    if req.force_exclude and req.stdin_filename and force_excluded(req.stdin_filename, req.resolver):
        result.files = 0
        if req.fix:  # excluded: pass the text through unchanged, as ruff does
            result.stdin_output = (req.stdin or b"").decode("utf-8", "surrogateescape")
        return result
    try:
        src = decode_path(name, req.stdin or b"")  # --stdin-filename x.ipynb: a notebook
    except SourceError as exc:
        result.findings.append(engine.error_finding(name, str(exc), exc.line, exc.col))
        result.errors += 1
        return result
    project = ProjectIndex.build([engine.summarize_text(src.text)], torch_version=settings.target_torch_version)
    codes = settings.enabled_codes()
    ignored = settings.ignored_for(name)
    file_result = engine.lint_source(name, src, codes, ignored, project)
    file_result.findings = src.locate(file_result.findings)  # notebooks: positions in cells
    if file_result.error:
        result.errors += 1
    findings = _worded(file_result.findings, settings)
    if (req.fix or req.diff) and any(_wants_fix(f, req.unsafe_fixes) for f in findings):
        findings = _fix_file(req, result, name, src, (codes, ignored), project, findings)
    result.findings.extend(findings)
    if req.stdin is not None and req.fix and result.stdin_output is None:
        # nothing to fix: echo the input, as ruff does (a notebook: its JSON)
        result.stdin_output = src.text if src.cells is None else src.raw.decode("utf-8", "surrogateescape")
    return _finish(req, result)


@dataclass
class _Entry:
    path: str
    settings: Settings
    abspath: str = ""
    digest: str = ""  # hash of the bytes the summary was taken from ("" : not cacheable)
    summary_hash: Optional[str] = None  # the cache's hash of its summary (cache_index.summary_hash), if cached


def _run_paths(req: CheckRequest) -> CheckResult:
    """Phase 1: every file's summary for the cross-file index (from the cache when
    the file's stat is unchanged, else read, hashed and summarised, the text then
    dropped). Phase 2: findings from the cache, or linted by workers that read the
    files themselves, so memory stays bounded by the largest file, not the corpus."""
    result = CheckResult()
    entries: List[_Entry] = []
    for path, explicit in discover(req.paths, req.resolver):
        if explicit and (force_excluded if req.force_exclude else explicitly_excluded)(path, req.resolver):
            continue
        entries.append(_Entry(path, req.resolver.for_path(path)))
    result.files = len(entries)
    progress = req.progress or (lambda phase, done, total: None)

    store: Optional[Cache] = None
    if not req.no_cache and entries:
        store, cache_off = open_cache(req.cache_dir, req.paths)
        if cache_off:
            result.messages.append(cache_off)

    # Module names are relative to the project root; with a project marker there, the project's
    # other files are summarised too (not linted), so one linted file sees what the others define.
    root = find_project_root(req.paths)
    seen = set()
    for e in entries:
        e.abspath = os.path.abspath(e.path)
        seen.add(e.abspath)
    others = _project_files(root, req, seen)
    workers = req.jobs or os.cpu_count() or 1
    pool = None
    try:
        summaries, modules, hashes = [], [], []
        got = _summaries(entries + others, store, workers, progress, len(entries))
        if isinstance(got, tuple):
            got, pool = got
        for i, (e, summary, error) in enumerate(got):
            if error is not None:
                if i < len(entries):  # an unreadable project file is reported only where it is linted itself
                    result.findings.append(engine.error_finding(e.path, *error))
                    result.errors += 1
                e.digest = None  # type: ignore[assignment]  # unreadable: not linted
                continue
            summaries.append(summary)
            modules.append(module_name(e.abspath, root))
            hashes.append(e.summary_hash)
        torch_override = next((e.settings.target_torch_version for e in entries if e.settings.target_torch_version), None)
        project = ProjectSource(store, summaries, modules, hashes, root, torch_override)
        del summaries
        # What phase 1 leaves alive (summaries, the project) lives to the end of the run: frozen, the
        # collector does not traverse it again at every collection of the lint phase and after it.
        gc.freeze()
        try:
            result_findings = _lint_phase(req, result, entries, store, project, workers, pool, progress)
        finally:
            gc.unfreeze()
    finally:
        if pool is not None:
            pool.close()
    return result_findings


def _lint_phase(req, result, entries, store, source: ProjectSource, workers, pool, progress) -> CheckResult:
    codes_cache: Dict[int, FrozenSet[str]] = {}
    keys: Dict[int, str] = {}
    jobs = []
    pending: Dict[str, tuple] = {}  # path -> (entry, codes, ignored, result key)
    done: List[tuple] = []  # (path, findings, error)
    for e in entries:
        if e.digest is None:
            continue
        key = None
        if store is not None and e.digest:
            sk = keys.get(id(e.settings))
            if sk is None:
                sk = keys[id(e.settings)] = result_key(settings_key(e.settings, store.root), source.digest)
            key = sk
            hit = store.results(e.abspath, e.digest, key, e.path)
            if hit is not None:
                done.append((e.path, hit[0], hit[1]))
                continue
        codes = _codes(e.settings, codes_cache)
        ignored = e.settings.ignored_for(e.path)
        pending[e.path] = (e, codes, ignored, key)
        jobs.append((e.path, codes, ignored, e.settings.max_file_size))

    if not jobs:
        linted = []  # every result cached: the index itself is not needed (its digest was)
    elif pool is not None:
        linted = pool.lint(jobs, source.index)
    else:
        linted = _lint_all(jobs, source.index, workers, req.progress, len(done))
    for file_result in linted:
        e, codes, ignored, key = pending[file_result.path]
        if store is not None and key is not None and file_result.digest and file_result.digest == e.digest:
            store.record_results(e.abspath, e.digest, key, file_result.findings, file_result.error)
        done.append((file_result.path, file_result.findings, file_result.error))

    for path, findings, error in done:
        if error:
            result.errors += 1
            findings = _worded(findings, req.resolver.for_path(path))
        if (req.fix or req.diff) and any(_wants_fix(f, req.unsafe_fixes) for f in findings):
            settings = req.resolver.for_path(path)
            try:
                src = engine.read_source(path, settings.max_file_size)
            except SourceError as exc:
                result.messages.append(f"{path}: cannot fix: {exc}")
            else:
                codes = _codes(settings, codes_cache)
                findings = _fix_file(req, result, path, src, (codes, settings.ignored_for(path)), source.index, findings)
        result.findings.extend(findings)
    if store is not None:
        store.save()
    return _finish(req, result)


# On a terminal the lint phase runs in slices so the progress line moves; each
# slice is one lint_many call (and pool), so slices are large.
_PROGRESS_SLICE = 256


def _lint_all(jobs, project, workers: int, progress: Optional[Progress], cached: int):
    total = len(jobs) + cached
    if progress is None or len(jobs) <= _PROGRESS_SLICE:
        if progress is not None:
            progress("lint", cached, total)
        return engine.lint_many(jobs, project, workers)
    out = []
    for start in range(0, len(jobs), _PROGRESS_SLICE):
        progress("lint", cached + start, total)
        out.extend(engine.lint_many(jobs[start:start + _PROGRESS_SLICE], project, workers))
    return out


def _worded(findings: List[Finding], settings: Settings) -> List[Finding]:
    """FRZ000 for syntax the running Python cannot parse says when the target is newer."""
    import dataclasses

    if settings.target_version is None:
        return findings
    return [
        dataclasses.replace(f, message=explain_syntax_error(f.message, settings.target_version))
        if f.code == engine.error_finding("", "").code
        else f
        for f in findings
    ]


# Beyond this many other files, the project is not summarised past the linted paths.
MAX_PROJECT_FILES = 20000


def _project_files(root: str, req: CheckRequest, seen: set) -> List[_Entry]:
    """The project's other Python files under `root` (excludes and .gitignore apply). Without a marker
    `root` is the working directory (or the linted files' folder outside it: `find_project_root`), so
    `check train.py` in a folder of scripts sees `models.py` beside it, as `check .` does."""
    out: List[_Entry] = []
    settings = req.resolver.for_path(os.path.join(root, "__init__.py"))  # only max-file-size is read for these
    for path, _explicit in discover([root], req.resolver):
        if not path.endswith((".py", ".pyi")):
            continue
        abspath = os.path.abspath(path)
        if abspath in seen:
            continue
        seen.add(abspath)
        out.append(_Entry(path, settings, abspath))
        if len(out) > MAX_PROJECT_FILES:
            return []
    return out


def _summaries(items: List[_Entry], store: Optional[Cache], workers: int, progress, shown: int):
    """(entry, summary, error) per item, from the cache when its stat is unchanged, else read and summarised:
    by a pool of workers (returned too, holding the trees for the lint phase) when there are enough."""
    out: List[tuple] = []
    misses: List[Tuple[int, os.stat_result]] = []
    for i, e in enumerate(items):
        if i < shown:
            progress("read", i, shown)
        st = _stat(e) if store is not None else None
        cached = store.lookup_stat(e.abspath, st) if st is not None else None
        sh = Cache.summary_hash_of(cached) if cached is not None else None
        # the summary is read and decoded only if the index is resolved (project_source)
        summary = CachedSummary(store, cached, _redo(e, store, st)) if sh else None  # type: ignore[arg-type]
        if summary is not None:
            e.digest = cached["h"]
            e.summary_hash = sh
            out.append((e, summary, None))
            continue
        out.append(None)
        misses.append((i, st))
    if not misses:
        return out
    if not pool_usable(workers, len(misses)):
        for i, st in misses:
            e = items[i]
            try:
                out[i] = (e, _summarize_file(e, store, st), None)
            except SourceError as exc:
                out[i] = (e, None, (str(exc), exc.line, exc.col))
        return out
    pool = AffinityPool(min(workers, len(misses) // engine.MIN_FILES_PER_WORKER))
    results = pool.summarize([(items[i].path, items[i].settings.max_file_size) for i, _ in misses])
    for (i, st), (_path, summary, digest, error) in zip(misses, results):
        e = items[i]
        if error is not None:
            out[i] = (e, None, error)
            continue
        if store is not None and st is not None:
            e.digest = digest
            e.summary_hash = store.record_file(e.abspath, st, digest, summary)
        out[i] = (e, summary, None)
    return out, pool


def _redo(e: _Entry, store: Cache, st: os.stat_result):
    """Summarise the file again, for a cached summary that does not decode (its entry is then replaced)."""
    def redo():
        try:
            return _summarize_file(e, store, st)
        except SourceError:
            return engine.summarize_text("")  # gone since: an empty summary, as for a file that does not parse
    return redo


def _stat(e: _Entry) -> Optional[os.stat_result]:
    try:
        return os.stat(e.abspath)
    except OSError:
        return None


def _summarize_file(e: _Entry, store: Optional[Cache], st: Optional[os.stat_result] = None):
    """Read and summarise one file (the cache lookup already missed); sets e.digest. Raises SourceError."""
    src = engine.read_source(e.path, e.settings.max_file_size)
    summary = engine.summarize_text(src.text)
    if store is not None and st is not None:
        e.digest = content_hash(src.raw)
        e.summary_hash = store.record_file(e.abspath, st, e.digest, summary)
    return summary


def _finish(req: CheckRequest, result: CheckResult) -> CheckResult:
    if not req.unsafe_fixes:
        result.unsafe_hidden = sum(
            1 for f in result.findings if f.fix is not None and f.fix.applicability is Applicability.UNSAFE
        )
    result.findings.sort(key=Finding.sort_key)
    return result


def _codes(settings: Settings, cache: Dict[int, FrozenSet[str]]) -> FrozenSet[str]:
    key = id(settings)
    if key not in cache:
        cache[key] = settings.enabled_codes()
    return cache[key]


def _fix_file(req: CheckRequest, result: CheckResult, path: str, src: Source, codes_ignored, project, findings):
    codes, ignored = codes_ignored
    rule_classes = engine.rule_classes_for(codes)

    def lint(text: str) -> List[Finding]:
        return engine.finalize(path, text, engine.lint_text(path, text, rule_classes, project), ignored)

    fixed = fix_text(path, src.text, lint, req.unsafe_fixes)
    result.messages.extend(fixed.failures)
    if fixed.fixed == 0 or fixed.text == src.text:
        return findings
    if req.diff:
        result.diffs.append(unified_diff(path, src.text, fixed.text) if src.cells is None else src.cells.diff(path, fixed.text))
        result.would_fix += fixed.fixed
        return findings
    if req.stdin is not None:
        result.stdin_output = fixed.text if src.cells is None else src.render(fixed.text).decode("utf-8", "surrogateescape")
    else:
        try:
            write_atomic(path, src, fixed.text)
        except FileChangedError as exc:
            result.messages.append(str(exc))
            return findings
        except OSError as exc:
            result.messages.append(f"{path}: cannot write fix: {exc.strerror or exc}")
            return findings
    result.fixed += fixed.fixed
    result.fixed_by_file[path] = fixed.applied
    return src.locate(fixed.findings)  # notebooks: positions in cells
