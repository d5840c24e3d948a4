"""Applying fixes: text edits, re-parse to prove the result, atomic writes.

A fix never produces a file that does not parse: each round of edits is
re-parsed and re-linted, and a round that breaks the parse is dropped.
Writing goes to a temporary file in the same folder and is renamed over the
original only if the original is still what we read.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from freezelint.findings import Applicability, Edit, Finding
from freezelint.static.input.source import Source, SourceError

MAX_ROUNDS = 10


class FileChangedError(Exception):
    pass


# Python (and libcst positions) end lines only at \r\n, \r or \n. str.splitlines
# also splits at \f, \v, \x1c-\x1e, \x85, \u2028 and \u2029, which may sit inside a
# string or comment; counting those would put every later edit on the wrong line.
_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> List[str]:
    """The text's lines as Python counts them, each with its line end."""
    starts = _offsets(text)
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)]) if a < b]


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
    applied: Counter = field(default_factory=Counter)  # code -> fixes applied
    failures: List[str] = field(default_factory=list)  # one line per fix left out, and why


def _check(text: str, lint) -> Tuple[Optional[List[Finding]], Optional[str]]:
    """(findings, None) when the text parses and lints, else (None, why not)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<fixed>", "exec", dont_inherit=True)
        return lint(text), None
    except SyntaxError as exc:
        return None, f"the fixed text does not parse (line {exc.lineno}: {exc.msg})"
    except SourceError as exc:
        return None, f"the fixed text does not parse (line {exc.line}: {exc})"
    except Exception as exc:  # a rule that fails on the new text: keep the last good text
        return None, f"linting the fixed text failed ({type(exc).__name__}: {exc})".splitlines()[0]


def fix_text(path: str, text: str, lint, unsafe: bool) -> FixResult:
    """Fix repeatedly until nothing fixable is left; `lint(text)` returns findings.

    A round whose result does not parse or lint is retried one fix at a time:
    the fixes that fail alone are left out and named in `failures`.
    """
    try:
        findings = lint(text)
    except Exception:  # the caller already reported what is wrong with this file
        return FixResult(text, 0, [])
    result = FixResult(text, 0, findings)
    rejected: Dict[Tuple[str, str], str] = {}  # (code, fix message) -> why it failed
    for _ in range(MAX_ROUNDS):
        chosen = [f for f in select_fixes(result.findings, unsafe) if (f.code, f.fix.message) not in rejected]
        if not chosen:
            break
        new_text = apply_edits(result.text, [e for f in chosen for e in f.fix.edits])
        new_findings, why = _check(new_text, lint)
        if why is not None:
            chosen, new_text, new_findings = _one_that_works(result, chosen, lint, rejected, path)
            if not chosen:
                continue
        if new_text == result.text:
            break
        result.text, result.findings, result.fixed = new_text, new_findings, result.fixed + len(chosen)
        result.applied.update(f.code for f in chosen)
    return result


def _one_that_works(result: FixResult, chosen: List[Finding], lint, rejected, path: str):
    """Try each fix of a failed round alone; record the ones at fault, apply the first good one."""
    for f in chosen:
        text = apply_edits(result.text, f.fix.edits)
        findings, why = _check(text, lint)
        if why is None:
            return [f], text, findings
        rejected[(f.code, f.fix.message)] = why
        result.failures.append(f"{path}:{f.line}:{f.col}: {f.code} fix ({f.fix.message or 'no description'}) not applied: {why}")
    return [], result.text, result.findings


def write_atomic(path: str, source: Source, new_text: str) -> None:
    """Replace `path` with `new_text` in the file's own encoding, BOM and mode.

    Raises FileChangedError when the file on disk is no longer what was read.
    SIGINT/SIGTERM are held off until the write is done or undone, so Ctrl-C
    never leaves a temporary file behind (the rename itself is atomic anyway).
    """
    import signal
    import threading

    held = {signal.SIGINT, signal.SIGTERM} if hasattr(signal, "pthread_sigmask") else set()
    if not held or threading.current_thread() is not threading.main_thread():
        _write_atomic(path, source, new_text)
        return
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        _write_atomic(path, source, new_text)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a held signal is delivered here


def _write_atomic(path: str, source: Source, new_text: str) -> None:
    try:
        data = source.render(new_text)  # checks that what we write reads back as what we parsed
    except SourceError as exc:
        raise OSError(errno.EILSEQ, str(exc)) from None
    # Write through a symlink to its target: renaming over the link itself would
    # turn it into a regular file and leave the real file unfixed.
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    st = os.stat(target)
    fd, tmp = tempfile.mkstemp(prefix=".freezelint-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            try:  # keep the owner too where we may (root fixing another user's file)
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass
        with open(target, "rb") as fh:
            if fh.read() != source.raw:
                raise FileChangedError(f"{path}: changed on disk while fixing; not overwritten")
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def unified_diff(path: str, old: str, new: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(split_lines(old), split_lines(new), f"a/{path}", f"b/{path}")
    )


__all__ = ["apply_edits", "fix_text", "write_atomic", "unified_diff", "FileChangedError", "FixResult"]
