"""Files in, findings out: prefilter -> parse (CPython `ast`) -> facts -> rules -> suppression.

The engine knows no rule by name. It runs all selected rules in one traversal
of the file's `ast`, and fans out over processes when there are enough files to
pay for a pool. Fixes are text edits located from `ast` positions.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import FrozenSet, Iterable, List, Optional, Sequence, Tuple, Type

from freezelint.findings import Applicability, Edit, Finding, Fix, Severity
from freezelint.registry import PARSE_ERROR_INFO
from freezelint.static.parse import parsed
from freezelint.static.semantic.project import FileSummary, ProjectIndex
from freezelint.static.summaries.file_summary import summarize_tree
from freezelint.static.input.notebook import decode_path, raw_size_limit
from freezelint.static.input.source import Source, SourceError
from freezelint.static.run.suppression import parse_suppressions

# Below this many files to parse, a process pool costs more than it saves.
MIN_FILES_PER_WORKER = 8


@dataclass(frozen=True)
class LintOptions:
    codes: FrozenSet[str]  # enabled rule codes for this file
    max_file_size: int


@dataclass
class FileResult:
    path: str
    findings: List[Finding] = field(default_factory=list)
    error: bool = False  # the file could not be read or parsed (FRZ000)
    digest: str = ""  # content hash of the bytes that were linted (lint_file)


def error_finding(path: str, message: str, line: int = 1, col: int = 1) -> Finding:
    return Finding(
        code=PARSE_ERROR_INFO.code,
        name=PARSE_ERROR_INFO.name,
        message=message,
        severity=Severity.ERROR,
        path=path,
        line=line,
        col=col,
        end_line=line,
        end_col=col,
    )


def rule_classes_for(codes: Iterable[str]):
    from freezelint.static.rules import load_rules

    codes = set(codes)
    return [r for r in load_rules() if r.code in codes]


def might_trigger(text: str, rule_classes) -> list:
    """The rules whose trigger substrings occur in the text (the cheap prefilter)."""
    return [r for r in rule_classes if r.might_fire(text)]


def lint_text(
    path: str,
    text: str,
    rule_classes: Sequence[Type],
    project: Optional[ProjectIndex] = None,
) -> List[Finding]:
    """Lint one decoded source text with the given rule classes (no suppression applied).

    Raises SourceError when the text does not parse.
    """
    known = parsed.triggered(text)  # the prefilter already ran on this text while summarising it
    rules = [r for r in rule_classes if r.code in known] if known is not None else might_trigger(text, rule_classes)
    if project is not None and project.calls_a_helper(text):
        # a freeze helper of another file is called here: its effects count though no freeze word is in this text
        from freezelint.static.rules.flow_rule import FlowRule

        rules += [r for r in rule_classes if issubclass(r, FlowRule) and r not in rules]
    if not rules:
        if known is None:
            check_syntax(text)  # not worth building a tree, but a syntax error is still reported
        return []
    from freezelint.static.parse.astutil import SourceText
    from freezelint.static.rules.context import FileContext, RuleRunner
    from freezelint.static.semantic.facts import FileFacts
    from freezelint.static.parse.walk import walk

    module = parsed.take(text) or parse(text)
    source = SourceText(text)
    if project is None:
        project = ProjectIndex.build([summarize_tree(module, _near, text)])  # this file alone: its own tree
    facts = FileFacts(module, source, project, project.module_of(path) if project.root else "")
    ctx = FileContext(path, module, facts, source)
    runner = RuleRunner(ctx, rules)
    try:
        walk(module, [runner])
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:
        if os.environ.get("FREEZELINT_DEBUG"):
            raise
        raise RuleCrash(runner.active, source, exc) from exc
    fixes = {}
    if any(rep.codemod is not None for rep in ctx.reports):  # libcst is imported for these files only
        from freezelint.static.fix.codemods.build import build_fixes

        fixes = build_fixes(text, module, source, ctx.reports)
    return [_finding(path, source, rep, fixes.get(id(rep))) for rep in ctx.reports]


class RuleCrash(Exception):
    """A rule raised: the one-line report names the rule, the position it was looking at, and the error."""

    def __init__(self, active, source, exc: Exception):
        fn, node = active if active is not None else (None, None)
        rule = getattr(getattr(fn, "__self__", None), "code", None)
        self.line, self.col = (source.span(node)[:2] if node is not None and hasattr(node, "lineno") else (1, 1))
        where = f" in {rule}" if rule else ""
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        super().__init__(f"internal error{where} at {self.line}:{self.col} (please report it; FREEZELINT_DEBUG=1 shows the traceback): {reason}")


def _finding(path: str, source, rep, fix: Optional[Fix] = None) -> Finding:
    line, col, end_line, end_col = source.span(rep.node)
    stmt_line = rep.statement.lineno if rep.statement is not None else line
    if rep.replacement is not None:
        old, new_text = rep.replacement
        oline, ocol, oend_line, oend_col = source.span(old)
        fix = Fix(
            rep.applicability or Applicability.SAFE,
            rep.fix_message,
            (Edit(new_text, oline, ocol, oend_line, oend_col),),
        )
    return Finding(
        code=rep.rule.code,
        name=rep.rule.name,
        message=rep.message,
        severity=rep.severity or rep.rule.severity,
        path=path,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        fix=fix,
        extra=(("statement_line", stmt_line),),
    )


def check_syntax(text: str) -> None:
    """Raise SourceError if the parser refuses the text (as `parse` would).

    Compiling to bytecode never builds Python AST objects, so it costs less than
    `ast.parse` on real code; an error only the compiler raises is confirmed with
    the parser, which accepts it (see `parse`).
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences: not ours to report
            compile(text, "<freezelint>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        try:
            parse(text)
        except SourceError:
            raise syntax_error(text, exc) from None
    except (RecursionError, MemoryError):
        raise SourceError("expression nesting too deep to parse") from None
    except ValueError as exc:  # e.g. NUL bytes
        raise SourceError(f"cannot parse: {exc}") from None


def parse(text: str):
    """CPython's `ast.parse`, with its errors turned into SourceError."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Only the parser decides: what it accepts has a tree every rule can read. The compiler's
            # own refusals (`return` outside a function, `f(a=1, a=2)`) are general lints (ruff F706...),
            # not "cannot analyse", and compiling each tree costs ~0.6x its parse. Fixes still compile
            # what they would write (fixer.py).
            return ast.parse(text, "<freezelint>")
    except SyntaxError as exc:
        raise syntax_error(text, exc) from None
    except (RecursionError, MemoryError):
        raise SourceError("expression nesting too deep to parse") from None
    except ValueError as exc:
        raise SourceError(f"cannot parse: {exc}") from None


def syntax_error(text: str, exc: SyntaxError) -> SourceError:
    """A SourceError for a SyntaxError, naming the Python version the syntax needs when it is newer."""
    from freezelint.static.parse.syntax_version import needed_python

    msg = f"syntax error: {exc.msg}"
    needed = needed_python(text, exc)
    if needed is not None:
        running = f"{sys.version_info[0]}.{sys.version_info[1]}"
        msg = (
            f"syntax error: {exc.msg}; this is Python {needed[0]}.{needed[1]} syntax "
            f"(freezelint runs on Python {running}: run it with Python >= {needed[0]}.{needed[1]})"
        )
    return SourceError(msg, line=exc.lineno or 1, col=exc.offset or 1)


def _near(name: str) -> bool:
    from freezelint.static.rules.api.frz003_requires_grad_misspelled import is_misspelled_requires_grad

    return is_misspelled_requires_grad(name)


def summarize_text(text: str) -> FileSummary:
    """The file's summary; its tree is kept for the lint phase when some rule may fire on it."""
    try:
        tree = parse(text)
    except SourceError:
        return FileSummary()  # FRZ000 is reported when the file is linted
    parsed.remember(text, tree, frozenset(r.code for r in might_trigger(text, _all_rules())))
    return summarize_tree(tree, _near, text)


def _all_rules():
    from freezelint.static.rules import load_rules

    return load_rules()


def finalize(path: str, text: str, findings: List[Finding], ignored: FrozenSet[str]) -> List[Finding]:
    """Apply per-file ignores and `# noqa`, and sort."""
    findings = [f for f in findings if f.code not in ignored]
    if findings:
        sup = parse_suppressions(text)
        findings = [
            f for f in findings if not sup.suppressed(f.code, f.line, dict(f.extra).get("statement_line", f.line))
        ]
    return sorted(findings, key=Finding.sort_key)


def lint_source(
    path: str,
    source: Source,
    codes: FrozenSet[str],
    ignored: FrozenSet[str] = frozenset(),
    project: Optional[ProjectIndex] = None,
) -> FileResult:
    try:
        findings = lint_text(path, source.text, rule_classes_for(codes), project)
    except SourceError as exc:
        return FileResult(path, [error_finding(path, str(exc), exc.line, exc.col)], error=True)
    except RecursionError:
        return FileResult(path, [error_finding(path, "expression nesting too deep to analyse")], error=True)
    except MemoryError:
        return FileResult(path, [error_finding(path, "out of memory while analysing")], error=True)
    except RuleCrash as exc:  # a bug in a rule must not take the whole run down: report it on this file
        return FileResult(path, [error_finding(path, str(exc), exc.line, exc.col)], error=True)
    except Exception as exc:  # a bug outside the rules (facts, flow, notebooks): the same, one line
        if os.environ.get("FREEZELINT_DEBUG"):
            raise
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return FileResult(path, [error_finding(path, f"internal error (please report it; FREEZELINT_DEBUG=1 shows the traceback): {reason}")], error=True)
    return FileResult(path, finalize(path, source.text, findings, ignored))


def read_source(path: str, max_size: int) -> Source:
    """Read and decode a file; SourceError with a one-line reason when that fails."""
    code_size, max_size = max_size, raw_size_limit(path, max_size)  # a notebook's JSON holds outputs too
    try:
        if os.path.isdir(path):
            raise SourceError("is a directory, not a Python file")
        def too_big(size: int) -> SourceError:
            return SourceError(
                f"file is {size / 1e6:.1f} MB, over the {max_size / 1e6:.1f} MB limit "
                "(raise `max-file-size` in [tool.freezelint] to lint it)"
            )

        size = os.path.getsize(path)
        if size > max_size:
            raise too_big(size)
        with open(path, "rb") as fh:
            raw = fh.read(max_size + 1)  # bounded even if the file grows after the size check
        if len(raw) > max_size:
            raise too_big(os.path.getsize(path))
    except SourceError:
        raise
    except FileNotFoundError:
        raise SourceError("file not found (deleted, or a broken symlink)") from None
    except PermissionError:
        raise SourceError("permission denied") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return decode_path(path, raw, code_size)  # a notebook (.ipynb): its Python cells, joined


# -- many files ---------------------------------------------------------------

_WORKER_PROJECT: Optional[ProjectIndex] = None


def _init_worker(project: ProjectIndex) -> None:
    global _WORKER_PROJECT
    _WORKER_PROJECT = project
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))


def lint_file(path: str, codes: FrozenSet[str], ignored: FrozenSet[str], max_size: int, project: Optional[ProjectIndex]) -> FileResult:
    """Read, decode and lint one file (what a worker does: only the path crosses processes)."""
    from freezelint.static.run.cache import content_hash

    try:
        source = read_source(path, max_size)
    except SourceError as exc:
        return FileResult(path, [error_finding(path, str(exc), exc.line, exc.col)], error=True)
    result = lint_source(path, source, codes, ignored, project)
    result.findings = source.locate(result.findings)  # notebooks: positions in cells
    result.digest = content_hash(source.raw)
    return result


def _lint_job(job: Tuple[str, FrozenSet[str], FrozenSet[str], int]) -> FileResult:
    path, codes, ignored, max_size = job
    return lint_file(path, codes, ignored, max_size, _WORKER_PROJECT)


def lint_many(
    jobs: List[Tuple[str, FrozenSet[str], FrozenSet[str], int]],
    project: ProjectIndex,
    workers: int,
) -> List[FileResult]:
    """Lint (path, codes, ignored, max_file_size) jobs, in parallel when there are enough to pay for a pool.

    Workers read the files themselves: no source text is pickled, and no process
    holds more than the file it is linting.
    """
    workers = max(1, min(workers, len(jobs) // MIN_FILES_PER_WORKER or 1))
    try:
        if workers == 1:
            _init_worker(project)
            return [_lint_job(j) for j in jobs]
        import multiprocessing

        # Forked workers inherit the trees phase 1 kept (parsed.py); spawned ones parse again.
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        from concurrent.futures import ProcessPoolExecutor  # imported only when a pool runs (start-up time)

        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(project,)) as pool:
            return list(pool.map(_lint_job, jobs, chunksize=max(1, min(16, len(jobs) // (workers * 8)))))
    finally:
        parsed.forget()
