"""`freezelint check` without the command line: discover, read, index, lint, fix."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional

from freezelint.config import ConfigResolver, Settings
from freezelint.findings import Applicability, Finding
from freezelint.static import engine
from freezelint.static.discover import discover, explicitly_excluded
from freezelint.static.fixer import FileChangedError, fix_text, unified_diff, write_atomic
from freezelint.static.project import ProjectIndex
from freezelint.static.source import Source, SourceError, decode


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


def _wants_fix(f: Finding, unsafe: bool) -> bool:
    return f.fix is not None and (unsafe or f.fix.applicability is Applicability.SAFE)


def run_check(req: CheckRequest) -> CheckResult:
    result = CheckResult()
    entries: List[tuple] = []  # (path, settings, Source | SourceError)
    if req.paths == ["-"] or req.stdin is not None:
        name = req.stdin_filename or "-"
        settings = req.resolver.for_path(req.stdin_filename or os.path.join(os.getcwd(), "-"))
        try:
            entries.append((name, settings, decode(req.stdin or b"")))
        except SourceError as exc:
            entries.append((name, settings, exc))
    else:
        for path, explicit in discover(req.paths, req.resolver):
            if explicit and explicitly_excluded(path, req.resolver):
                continue
            settings = req.resolver.for_path(path)
            try:
                entries.append((path, settings, engine.read_source(path, settings.max_file_size)))
            except SourceError as exc:
                entries.append((path, settings, exc))
    result.files = len(entries)

    project = ProjectIndex.build(
        engine.summarize_text(src.text) for _, _, src in entries if isinstance(src, Source)
    )
    codes_cache: Dict[int, FrozenSet[str]] = {}
    jobs = []
    sources: Dict[str, Source] = {}
    per_file: Dict[str, tuple] = {}
    for path, settings, src in entries:
        if isinstance(src, SourceError):
            result.findings.append(engine.error_finding(path, str(src), src.line, src.col))
            result.errors += 1
            continue
        codes = _codes(settings, codes_cache)
        ignored = settings.ignored_for(path)
        sources[path] = src
        per_file[path] = (codes, ignored)
        jobs.append((path, codes, ignored, src))

    workers = req.jobs or os.cpu_count() or 1
    for file_result in engine.lint_many(jobs, project, workers):
        path = file_result.path
        if file_result.error:
            result.errors += 1
        findings = file_result.findings
        if (req.fix or req.diff) and any(_wants_fix(f, req.unsafe_fixes) for f in findings):
            findings = _fix_file(req, result, path, sources[path], per_file[path], project, findings)
        result.findings.extend(findings)
    if req.stdin is not None and req.fix and result.stdin_output is None and entries and isinstance(entries[0][2], Source):
        result.stdin_output = entries[0][2].text  # nothing to fix: echo the input, as ruff does
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
    rule_classes = engine._rule_classes(codes)

    def lint(text: str) -> List[Finding]:
        return engine.finalize(path, text, engine.lint_text(path, text, rule_classes, project), ignored)

    fixed = fix_text(path, src.text, lint, req.unsafe_fixes)
    if fixed.fixed == 0 or fixed.text == src.text:
        return findings
    if req.diff:
        result.diffs.append(unified_diff(path, src.text, fixed.text))
        return findings
    if req.stdin is not None:
        result.stdin_output = fixed.text
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
    return fixed.findings
