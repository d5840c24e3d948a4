"""Findings' positions as LSP positions, and document edits as minimal text edits.

Findings count lines from 1 and columns in characters (code points) from 1.
LSP counts both from 0, and columns in the negotiated encoding's code units
(UTF-16 unless the client offers another): a character outside the BMP is two
UTF-16 units, so a column after an emoji moves right by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from freezelint.static.fix.fixer import split_lines

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"

# An LSP position: (0-based line, 0-based column in code units).
Position = Tuple[int, int]


def units(text: str, encoding: str = UTF16) -> int:
    """How many code units `text` is in the position encoding."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def chars_for_units(line: str, count: int, encoding: str = UTF16) -> int:
    """The character index in `line` that `count` code units reach (clamped to the line)."""
    if encoding == UTF32:
        return min(max(count, 0), len(line))
    seen = 0
    for i, ch in enumerate(line):
        if seen >= count:
            return i
        seen += units(ch, encoding)
    return len(line)


def _body(line: str) -> str:
    return line.rstrip("\r\n")


class LineIndex:
    """A text's lines, for turning (line, column) pairs into LSP positions and offsets."""

    def __init__(self, text: str, encoding: str = UTF16):
        self.text = text
        self.encoding = encoding
        self.lines = split_lines(text)
        self.starts: List[int] = []
        offset = 0
        for line in self.lines:
            self.starts.append(offset)
            offset += len(line)

    def _line(self, row: int) -> str:
        return _body(self.lines[row]) if 0 <= row < len(self.lines) else ""

    def position(self, line: int, col: int) -> Position:
        """The LSP position of a finding's 1-based (line, character column), clamped to the text."""
        row = max(line - 1, 0)
        if row >= len(self.lines):  # past the end (e.g. an error at EOF): the end of the last line
            row = max(len(self.lines) - 1, 0)
            return row, units(self._line(row), self.encoding)
        body = self._line(row)
        return row, units(body[: max(col - 1, 0)], self.encoding)

    def offset(self, pos: Position) -> int:
        """The character offset in the text of an LSP position."""
        row, col = pos
        if row >= len(self.lines):
            return len(self.text)
        if row < 0:
            return 0
        return self.starts[row] + chars_for_units(self._line(row), col, self.encoding)

    def position_of_offset(self, offset: int) -> Position:
        """The LSP position of a character offset."""
        row = 0
        for i, start in enumerate(self.starts):
            if start > offset:
                break
            row = i
        if not self.lines:
            return 0, 0
        line_text = self.lines[row]
        within = min(offset - self.starts[row], len(line_text))
        if within > len(_body(line_text)):  # inside the line end: the next line's start
            return row + 1, 0
        return row, units(line_text[:within], self.encoding)


@dataclass(frozen=True)
class TextChange:
    """Replace the text between two LSP positions."""

    start: Position
    end: Position
    new_text: str


def minimal_change(old: str, new: str, encoding: str = UTF16) -> Optional[TextChange]:
    """One edit that turns `old` into `new`, touching only what differs; None if equal."""
    if old == new:
        return None
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    # never split a \r\n pair: an edit between them would make two line ends of one
    if 0 < prefix < len(old) and old[prefix - 1] == "\r" and old[prefix] == "\n":
        prefix -= 1
    end = len(old) - suffix
    if 0 < end < len(old) and old[end - 1] == "\r" and old[end] == "\n":
        suffix -= 1
        end += 1
    index = LineIndex(old, encoding)
    return TextChange(index.position_of_offset(prefix), index.position_of_offset(end), new[prefix: len(new) - suffix])


def overlaps(a_start: Position, a_end: Position, b_start: Position, b_end: Position) -> bool:
    """Do two ranges touch? An empty range (a cursor) touches a range it is in or at the edge of."""
    return not (a_end < b_start or b_end < a_start)
