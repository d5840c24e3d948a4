"""What the editor holds: a Python file's text, or a notebook's cells (LSP 3.17 notebook sync).

A notebook document becomes the same `Source` a `.ipynb` file does (its cells
written out as nbformat 4 JSON and read by `notebook.read_notebook`), so its
Python cells are joined, IPython syntax neutralised and findings placed back in
cells exactly as `freezelint check` does. Cell N of a finding (1-based over all
cells, markdown too) is the notebook's N-th cell document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List, Optional, Tuple
from urllib.parse import unquote, urlparse

from freezelint.static.input.notebook import read_notebook
from freezelint.static.input.source import Source


@dataclass(frozen=True)
class Cell:
    uri: str
    text: str
    code: bool  # a code cell (markdown cells are kept so that cell numbers match)
    language: str = "python"


@dataclass(frozen=True)
class Snapshot:
    """One version of an open document, immutable so the lint thread can read it safely."""

    uri: str  # the text document's URI, or the notebook's
    path: str  # the file system path it stands for
    version: Optional[int]
    text: str = ""  # a Python file
    cells: Optional[Tuple[Cell, ...]] = None  # a notebook

    @property
    def is_notebook(self) -> bool:
        return self.cells is not None

    def source(self) -> Source:
        """The text to lint (a notebook: its Python cells joined). Raises SourceError."""
        if self.cells is None:
            return Source(text=self.text, raw=self.text.encode("utf-8", "surrogatepass"))
        return read_notebook(notebook_json(self.cells).encode("utf-8", "surrogatepass"))

    def target(self, cell: Optional[int]) -> Tuple[str, str]:
        """(URI, text) of the document a finding in `cell` (None: a Python file) is shown in."""
        if self.cells is None or cell is None:
            return self.uri, self.text
        index = min(max(cell - 1, 0), len(self.cells) - 1) if self.cells else 0
        if not self.cells:
            return self.uri, ""
        c = self.cells[index]
        return c.uri, c.text

    def cell_number(self, uri: str) -> Optional[int]:
        """The 1-based number of the cell whose document is `uri`."""
        for n, c in enumerate(self.cells or (), 1):
            if c.uri == uri:
                return n
        return None


def notebook_json(cells: Tuple[Cell, ...]) -> str:
    """Cells as the nbformat 4 JSON `read_notebook` reads (a non-Python code cell is raw)."""
    out = []
    for c in cells:
        kind = "code" if c.code and c.language.lower().startswith("python") else ("raw" if c.code else "markdown")
        cell = {"cell_type": kind, "metadata": {}, "source": c.text}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    data = {
        "cells": out,
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(data)


def uri_to_path(uri: str) -> str:
    """A file: URI's path; any other scheme (untitled:, vscode-notebook-cell:) keeps its path part."""
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if parsed.scheme == "file" and parsed.netloc:
        path = f"//{parsed.netloc}{path}"  # a UNC path
    if len(path) >= 3 and path[0] == "/" and path[2] == ":":  # file:///c:/x on Windows
        path = path[1:]
    return path or uri


def is_python_path(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def cells_from(notebook_cells, text_of) -> Tuple[Cell, ...]:
    """Cells from an lsprotocol NotebookDocument's cells and a uri -> (text, language) lookup."""
    out: List[Cell] = []
    for cell in notebook_cells:
        text, language = text_of(cell.document)
        out.append(Cell(cell.document, text, int(cell.kind) == 2, language or "python"))
    return tuple(out)
