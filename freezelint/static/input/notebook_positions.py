"""A notebook cell's line and column as a line and column of the notebook file's own JSON text.

Text and JSON output name a notebook position as ruff does (cell, line in the cell). SARIF
and GitHub annotations point into the file as it is stored, so they need the JSON line that
holds that source line (`"    model.requires_grad = False\\n",`): `file_position` walks the
JSON text (`notebook_json.source_spans`) and counts the escapes inside the source string,
so the column is exact too.
"""

from __future__ import annotations

import json
from typing import List, Optional, Tuple

from freezelint.static.input.notebook_json import source_spans
from freezelint.static.input.notebook_magics import split_lines


def _raw_index(text: str, quote: int, k: int) -> int:
    """Index in `text` of the k-th decoded character of the JSON string opening at `quote`."""
    i, n = quote + 1, 0
    while n < k and i < len(text) and text[i] != '"':
        if text[i] == "\\":
            if text[i + 1: i + 2] == "u":
                high = 0xD800 <= int(text[i + 2: i + 6], 16) < 0xDC00
                i += 12 if high and text[i + 6: i + 8] == "\\u" else 6  # a surrogate pair is one character
            else:
                i += 2
        else:
            i += 1
        n += 1
    return i


class NotebookText:
    """One notebook's JSON text, with its cells' source strings located once."""

    def __init__(self, text: str):
        self.text = text
        try:
            self.spans = source_spans(text)
        except (ValueError, IndexError):
            self.spans = {}
        self._cells: dict = {}

    def _items(self, cell: int) -> Optional[List[Tuple[int, str]]]:
        """(raw index of its opening quote, decoded text) of each source string of cell `cell` (1-based)."""
        if cell not in self._cells:
            span = self.spans.get(cell - 1)
            if span is None:
                items = None
            else:
                bounds = [span[1]] if span[0] == "str" else span[1]
                try:
                    items = [(a, json.loads(self.text[a:b])) for a, b in bounds]
                except ValueError:
                    items = None
                if items is not None and not all(isinstance(s, str) for _, s in items):
                    items = None
            self._cells[cell] = items
        return self._cells[cell]

    def file_position(self, cell: int, row: int, col: int) -> Optional[Tuple[int, int]]:
        """(line, column), 1-based, in the JSON text of column `col` of line `row` of cell `cell`
        (cells counted over the whole notebook from 1, as findings name them); None when the
        notebook has no such line (the file changed since it was linted)."""
        items = self._items(cell)
        if not items or row < 1 or col < 1:
            return None
        lines = split_lines("".join(s for _, s in items))
        if row > len(lines) + 1 or (row == len(lines) + 1 and col > 1):
            return None
        offset = sum(len(line) for line in lines[: row - 1]) + min(col - 1, len(lines[row - 1]) if row <= len(lines) else 0)
        start = 0
        for quote, s in items:
            if offset < start + len(s) or (quote, s) == items[-1]:
                i = _raw_index(self.text, quote, offset - start)
                line_start = self.text.rfind("\n", 0, i) + 1
                return self.text.count("\n", 0, i) + 1, i - line_start + 1
            start += len(s)
        return None


__all__ = ["NotebookText"]
