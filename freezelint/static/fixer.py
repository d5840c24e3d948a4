"""Applying fixes: text edits, re-parse to prove the result, atomic writes.

A fix never produces a file that does not parse: each round of edits is
re-parsed and re-linted, and a round that breaks the parse is dropped.
Writing goes to a temporary file in the same folder and is renamed over the
original only if the original is still what we read.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence, Tuple

from freezelint.findings import Applicability, Edit, Finding
from freezelint.static.source import Source, SourceError

MAX_ROUNDS = 10


class FileChangedError(Exception):
    pass


# Python (and libcst positions) end lines only at \r\n, \r or \n. str.splitlines
# also splits at \f, \v, \x1c-\x1e, \x85, \u2028 and \u2029, which may sit inside a
# string or comment; counting those would put every later edit on the wrong line.
_LINE_END = re.compile(r"\r\n|\r|\n")


def _offsets(text: str) -> List[int]:
    """Offset of the start of each line (1-based line n starts at starts[n - 1])."""
    return [0] + [m.end() for m in _LINE_END.finditer(text)]


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (1-based line/column positions)."""
    starts = _offsets(text)

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col - 1

    spans = sorted(((offset(e.line, e.col), offset(e.end_line, e.end_col), e.content) for e in edits), reverse=True)
    out = text
    for start, end, content in spans:
        out = out[:start] + content + out[end:]
    return out


def select_fixes(findings: Sequence[Finding], unsafe: bool) -> List[Finding]:
    """Fixable findings whose edits do not overlap, in order."""
    chosen: List[Finding] = []
    taken: List[Tuple[Tuple[int, int], Tuple[int, int]]] = []
    for f in sorted(findings, key=Finding.sort_key):
        if f.fix is None or (f.fix.applicability is Applicability.UNSAFE and not unsafe):
            continue
        spans = [((e.line, e.col), (e.end_line, e.end_col)) for e in f.fix.edits]
        if any(not (b_end <= a_start or a_end <= b_start) for a_start, a_end in spans for b_start, b_end in taken):
            continue
        chosen.append(f)
        taken.extend(spans)
    return chosen


@dataclass
class FixResult:
    text: str
    fixed: int
    findings: List[Finding]  # what remains after fixing


def fix_text(path: str, text: str, lint, unsafe: bool) -> FixResult:
    """Fix repeatedly until nothing fixable is left; `lint(text)` returns findings."""
    from freezelint.static.engine import parse

    findings = lint(text)
    fixed = 0
    for _ in range(MAX_ROUNDS):
        chosen = select_fixes(findings, unsafe)
        if not chosen:
            break
        new_text = apply_edits(text, [e for f in chosen for e in f.fix.edits])
        try:
            parse(new_text)
            new_findings = lint(new_text)
        except SourceError:
            break  # never keep a text that does not parse
        if new_text == text:
            break
        text, findings, fixed = new_text, new_findings, fixed + len(chosen)
    return FixResult(text, fixed, findings)


def write_atomic(path: str, source: Source, new_text: str) -> None:
    """Replace `path` with `new_text` in the file's own encoding, BOM and mode.

    Raises FileChangedError when the file on disk is no longer what was read.
    """
    data = source.encode(new_text)
    folder = os.path.dirname(os.path.abspath(path))
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=".freezelint-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with open(path, "rb") as fh:
            if fh.read() != source.raw:
                raise FileChangedError(f"{path}: changed on disk while fixing; not overwritten")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def unified_diff(path: str, old: str, new: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    )


__all__ = ["apply_edits", "fix_text", "write_atomic", "unified_diff", "FileChangedError", "FixResult", "Optional", "FrozenSet"]
