"""`# noqa` comments: line-level (`# noqa`, `# noqa: FRZ001, FRZ005`) and file-level
(`# freezelint: noqa`, `# freezelint: noqa: FRZ001`), read from real comment tokens
so a `# noqa` inside a string does not count. Any case (`# NoQA: frz001`), as
flake8 and ruff accept. A file-level comment counts only on a line of its own
(as ruff's `# ruff: noqa`); after code (`x = 1  # freezelint: noqa`) it
suppresses that line only, never the whole file."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional

ALL: FrozenSet[str] = frozenset({"*"})

# The cheap test before tokenizing: a file without "noqa" in any case has no suppression.
_MAY_HAVE_NOQA = re.compile("noqa", re.I)

_LINE_RE = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_FILE_RE = re.compile(r"#\s*(?:freezelint|flake8)\s*:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)


def _codes(group: Optional[str]) -> FrozenSet[str]:
    if not group:
        return ALL
    return frozenset(c.upper() for c in re.split(r"[\s,]+", group.strip()) if c)


@dataclass
class Suppressions:
    lines: Dict[int, FrozenSet[str]] = field(default_factory=dict)
    file_codes: FrozenSet[str] = frozenset()  # ALL suppresses the whole file

    def suppressed(self, code: str, *lines: int) -> bool:
        if self.file_codes is ALL or code in self.file_codes:
            return True
        for line in lines:
            codes = self.lines.get(line)
            if codes is not None and (codes is ALL or code in codes):
                return True
        return False


def parse_suppressions(text: str) -> Suppressions:
    sup = Suppressions()
    if not _MAY_HAVE_NOQA.search(text):
        return sup
    file_codes = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text, newline=None).readline))  # \r, \r\n, \n all end a line
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return sup
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        m = _FILE_RE.match(tok.string)
        if m and not tok.line[: tok.start[1]].strip():
            codes = _codes(m.group("codes"))
            if codes is ALL:
                sup.file_codes = ALL
                return sup
            file_codes |= codes
            continue
        m = m or _LINE_RE.search(tok.string)  # a file-level comment after code: that line only
        if m:
            line = tok.start[0]
            codes = _codes(m.group("codes"))
            prev = sup.lines.get(line)
            sup.lines[line] = ALL if (codes is ALL or prev is ALL) else (codes | (prev or frozenset()))
    sup.file_codes = frozenset(file_codes)
    return sup
