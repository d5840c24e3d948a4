"""Where a finding lies in the file as stored, for the reporters that point into files (SARIF, GitHub).

A notebook finding carries its cell and the line and column in that cell (as ruff, and as text
and JSON print it). Code scanning and workflow annotations show the file's own lines, where
line 2 of a notebook is `"cells": [`: there the position is the JSON line of that source line.
"""

from __future__ import annotations

import codecs
from typing import Callable, Dict, Optional, Tuple

from freezelint.findings import Finding

RawSource = Callable[[str], Optional[str]]  # path -> the file's text (a notebook's JSON), None if unreadable


def read_file(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def with_stdin(stdin_text: Optional[str], stdin_name: str) -> RawSource:
    """`read_file`, except that `stdin_name` is the text read from standard input."""
    if stdin_text is None:
        return read_file
    text = stdin_text[1:] if stdin_text.startswith("\ufeff") else stdin_text
    return lambda path: text if path == stdin_name else read_file(path)


class FilePlaces:
    def __init__(self, raw_of: Optional[RawSource] = None):
        self.raw_of = raw_of or read_file
        self._notebooks: Dict[str, object] = {}

    def span(self, f: Finding) -> Optional[Tuple[int, int, int, int]]:
        """(line, column, end line, end column) in the stored file; None for a notebook line that
        cannot be found there (the file changed or is gone)."""
        if f.cell is None:
            return f.line, f.col, f.end_line, f.end_col
        from freezelint.static.input.notebook_positions import NotebookText

        if f.path not in self._notebooks:
            text = self.raw_of(f.path)
            self._notebooks[f.path] = NotebookText(text) if text is not None else None
        nb = self._notebooks[f.path]
        if nb is None:
            return None
        start = nb.file_position(f.cell, f.line, f.col)
        if start is None:
            return None
        end = nb.file_position(f.cell, f.end_line, f.end_col) or start
        return start + (end if end >= start else start)


def cell_prefix(f: Finding) -> str:
    """`cell 3, line 2: ` before a notebook finding's message (its position as the notebook shows it)."""
    return f"cell {f.cell}, line {f.line}: " if f.cell is not None else ""


__all__ = ["FilePlaces", "RawSource", "cell_prefix", "read_file", "with_stdin"]
