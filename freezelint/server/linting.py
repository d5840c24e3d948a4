"""Lint one open document with the engine `freezelint check` uses, against its project's index."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional

from freezelint.config import Settings
from freezelint.findings import Finding
from freezelint.registry import PARSE_ERROR_CODE
from freezelint.server.documents import Snapshot
from freezelint.server.project_model import Project, Projects
from freezelint.static.run import engine
from freezelint.static.parse import parsed
from freezelint.static.input.discover import force_excluded
from freezelint.static.semantic.project import FileSummary
from freezelint.static.input.source import Source, SourceError
from freezelint.target_version import explain_syntax_error


@dataclass
class LintResult:
    snapshot: Snapshot
    settings: Settings
    source: Optional[Source] = None  # None: the document could not be read (one FRZ000)
    findings: List[Finding] = field(default_factory=list)  # positions in source.text (what edits apply to)
    located: List[Finding] = field(default_factory=list)  # the same findings, placed (notebooks: in cells)
    project: Optional[Project] = None
    summary_changed: bool = False  # the project's index changed: re-lint the project's other open files
    excluded: bool = False  # excluded by the configuration: no diagnostics, as `check` skips it
    codes: FrozenSet[str] = frozenset()
    ignored: FrozenSet[str] = frozenset()

    def relint(self, text: str) -> List[Finding]:
        """Findings for another text of the same document (what the fixer calls after each round)."""
        index = self.project.index() if self.project is not None else None
        rules = engine.rule_classes_for(self.codes)
        found = engine.lint_text(self.snapshot.path, text, rules, index)
        return engine.finalize(self.snapshot.path, text, found, self.ignored)


_EMPTY_SUMMARY = FileSummary().to_json()

# A first lint reads the project's files for this long at most (a large project with a
# cold cache takes seconds); the rest is read afterwards and the open files linted again.
LOAD_BUDGET_SECONDS = 0.5


def _summary(text: str) -> Optional[FileSummary]:
    """The text's summary; None when it does not parse (the project keeps the last good one)."""
    summary = engine.summarize_text(text)
    if summary.to_json() == _EMPTY_SUMMARY:
        try:
            engine.check_syntax(text)
        except SourceError:
            return None
    return summary


def _worded(findings: List[Finding], settings: Settings) -> List[Finding]:
    """As `check`: a syntax error says so when the project targets a newer Python."""
    if settings.target_version is None:
        return findings
    return [
        dataclasses.replace(f, message=explain_syntax_error(f.message, settings.target_version))
        if f.code == PARSE_ERROR_CODE
        else f
        for f in findings
    ]


def lint_snapshot(projects: Projects, snap: Snapshot) -> LintResult:
    """Diagnostics for one version of a document. Never raises: a failure is one FRZ000."""
    with projects.lock:
        settings = projects.resolver.for_path(snap.path)
        result = LintResult(snap, settings)
        if os.path.isabs(snap.path) and force_excluded(snap.path, projects.resolver):
            result.excluded = True
            return result
        try:
            _lint_into(projects, snap, result)
        except Exception as exc:  # a bug of ours: one diagnostic on the file, the server goes on
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            result.findings = result.located = [engine.error_finding(snap.path, f"internal error (please report it): {reason}")]
            result.source = None
        finally:
            # The engine keeps parsed trees for a later lint phase of `check`; the server has
            # none, and a long-lived process must not hold trees of texts long edited away.
            parsed.forget()
        return result


def _lint_into(projects: Projects, snap: Snapshot, result: LintResult) -> None:
    settings = result.settings
    try:
        src = snap.source()
        size = len(src.text.encode("utf-8", "surrogatepass"))
        if size > settings.max_file_size:
            raise SourceError(
                f"the document holds {size / 1e6:.1f} MB of code, over the {settings.max_file_size / 1e6:.1f} MB limit "
                "(raise `max-file-size` in [tool.freezelint] to lint it)"
            )
    except SourceError as exc:
        result.findings = result.located = [engine.error_finding(snap.path, str(exc), exc.line, exc.col)]
        return
    project = projects.for_path(snap.path, budget=LOAD_BUDGET_SECONDS)
    result.project = project
    abspath = os.path.abspath(snap.path)
    result.summary_changed = project.set_open(abspath, _summary(src.text))
    result.codes = settings.enabled_codes()
    result.ignored = settings.ignored_for(snap.path)
    linted = engine.lint_source(snap.path, src, result.codes, result.ignored, project.index())
    result.source = src
    result.findings = _worded(linted.findings, settings)
    result.located = src.locate(result.findings)
