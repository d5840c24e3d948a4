"""`--add-noqa`: put `# noqa: CODE` on every reported line, keeping the codes already there.

Running it twice changes nothing: the second run finds every line suppressed.
Lines that cannot take a comment (inside a multi-line string, or ending in a
backslash continuation) are left alone and named.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Set

from freezelint.findings import Finding
from freezelint.static.run import engine
from freezelint.static.fix.fixer import FileChangedError, split_lines, write_atomic
from freezelint.static.input.source import SourceError
from freezelint.static.run.suppression import ALL, parse_suppressions

# The noqa part of a comment, as suppression.py reads it (codes after an optional colon).
_NOQA = re.compile(r"#\s*noqa(?::\s*[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)?", re.I)


@dataclass
class AddNoqaResult:
    added: int = 0  # lines that got a new or longer noqa comment
    messages: List[str] = field(default_factory=list)


def _uncommentable_lines(text: str) -> Set[int]:
    """Lines whose end is inside a token (a multi-line string) or continues with a backslash."""
    out = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if tok.end[0] > tok.start[0] and tok.type not in (tokenize.NL, tokenize.NEWLINE):
                out.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    for n, line in enumerate(split_lines(text), 1):
        if line.rstrip("\r\n").endswith("\\"):
            out.add(n)
    return out


def _comment_on(text: str, line: int):
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if tok.type == tokenize.COMMENT and tok.start[0] == line:
                return tok
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def with_noqa(text: str, wanted: Dict[int, Set[str]]) -> tuple:
    """The text with `# noqa` codes added to each line of `wanted`; (text, lines changed, lines skipped)."""
    lines = split_lines(text)
    existing = parse_suppressions(text).lines
    blocked = _uncommentable_lines(text)
    changed, skipped = 0, []
    for line, codes in sorted(wanted.items()):
        have = existing.get(line, frozenset())
        if have is ALL or codes <= have:
            continue
        if line in blocked or line > len(lines):
            skipped.append(line)
            continue
        body = lines[line - 1]
        end = body[len(body.rstrip("\r\n")):]
        body = body[: len(body) - len(end)]
        directive = "# noqa: " + ", ".join(sorted(codes | have))
        tok = _comment_on(text, line)
        m = _NOQA.search(tok.string) if tok is not None else None
        if tok is not None and m is not None:
            start = body.rfind(tok.string)  # a comment runs to the end of its line
            comment = tok.string[: m.start()] + directive + tok.string[m.end():]
            body = body[:start] + comment + body[start + len(tok.string):]
        else:
            body = body.rstrip(" \t") + "  " + directive
        lines[line - 1] = body + end
        changed += 1
    return "".join(lines), changed, skipped


def add_noqa(findings: Iterable[Finding], max_file_size: Dict[str, int]) -> AddNoqaResult:
    """Rewrite each file that has static findings (FRZ000 cannot be suppressed).

    A notebook's findings are in cell rows: they are mapped back to the joined
    text, and the file is written through the notebook (only changed lines move).
    """
    by_file: Dict[str, List[Finding]] = defaultdict(list)
    for f in findings:
        if f.source == "static" and f.code != engine.error_finding("", "").code and f.path != "-":
            by_file[f.path].append(f)
    result = AddNoqaResult()
    for path, found in sorted(by_file.items()):
        try:
            src = engine.read_source(path, max_file_size.get(path, 1 << 62))
        except SourceError as exc:
            result.messages.append(f"{path}: cannot add noqa: {exc}")
            continue
        wanted: Dict[int, Set[str]] = defaultdict(set)
        for f in found:
            line = f.line
            if f.cell is not None and src.cells is not None:
                try:
                    line = src.cells.joined_line(f.cell, f.line)
                except KeyError:
                    result.messages.append(f"{path}: cell {f.cell} line {f.line}: not a Python line, no noqa added")
                    continue
            wanted[line].add(f.code)
        text, changed, skipped = with_noqa(src.text, wanted)
        for line in skipped:
            result.messages.append(
                f"{path}:{line}: cannot add a noqa comment here (the line ends inside a string or a backslash continuation)"
            )
        if not changed:
            continue
        try:
            write_atomic(path, src, text)
        except FileChangedError as exc:
            result.messages.append(str(exc))
            continue
        except OSError as exc:
            result.messages.append(f"{path}: cannot write: {exc.strerror or exc}")
            continue
        result.added += changed
    return result
