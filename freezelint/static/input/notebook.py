"""Jupyter notebooks (.ipynb, nbformat 4) as Python source.

The Python code cells are joined into one text for the engine, with IPython
syntax (magics, `!shell`, `?help`) neutralised so that CPython parses it while
every line keeps its number. A map sends each joined line back to its cell
(numbered from 1 over all cells, as ruff does) and line in that cell. Fixes go
back into the notebook's own JSON text: only the changed lines' JSON strings
are rewritten, every other byte of the file (outputs, metadata, indentation,
key order, final newline) stays as it was.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from freezelint.findings import Edit, Finding
from freezelint.static.input.notebook_magics import LineInfo, neutralise, split_end, split_lines
from freezelint.static.input.source import Source, SourceError, decode

NOTEBOOK_SUFFIX = ".ipynb"

# Joined between cells. A comment: it never changes how the cells around it parse,
# and lets a fixed text be split back into cells even when a fix changes line counts.
# No words (rules that read comments must find nothing in it); "# %% 2", "# %% 3"...
# when a cell has a line that reads the same.
_BOUNDARY = "# %%"


# A notebook's JSON also holds its outputs (embedded images, logs): megabytes beside a
# few kilobytes of code. `max-file-size` bounds its code; the JSON may be this much larger.
NOTEBOOK_JSON_FACTOR = 64


def is_notebook(path: str) -> bool:
    return path.lower().endswith(NOTEBOOK_SUFFIX)


def raw_size_limit(path: str, max_size: int) -> int:
    """How many bytes of the file may be read, for a `max-file-size` of max_size."""
    return max_size * NOTEBOOK_JSON_FACTOR if is_notebook(path) else max_size


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def decode_path(path: str, raw: bytes, max_size: Optional[int] = None) -> Source:
    """Decode a file's bytes: a notebook's Python cells for .ipynb, else Python source.

    max_size: for a notebook, the most bytes of code its Python cells may hold.
    """
    if not is_notebook(path):
        return decode(raw)
    src = read_notebook(raw)
    size = len(src.text.encode("utf-8", "surrogatepass"))
    if max_size is not None and size > max_size:
        raise SourceError(
            f"the notebook's code cells hold {_size(size)}, over the {_size(max_size)} limit "
            "(raise `max-file-size` in [tool.freezelint] to lint it)"
        )
    return src


@dataclass
class _Cell:
    number: int  # 1-based, over all cells
    position: int  # 0-based index in the notebook's "cells" array
    original: List[str]  # the cell's lines as the notebook has them
    python: List[str]  # the same lines, IPython syntax neutralised
    lines: List[LineInfo]
    added_end: bool  # the cell did not end with a line end; the joined text adds one


class Notebook:
    """A parsed notebook: the joined Python text and the way back to cells and bytes."""

    def __init__(self, raw: bytes, text: str, data: dict, cells: List[_Cell], bom: bool):
        self.raw = raw
        self.json_text = text  # the file's JSON, decoded
        self.data = data
        self.cells = cells
        self.bom = bom
        self.rows: List[LineInfo] = []  # joined line n -> rows[n - 1]
        taken = {split_end(line)[0] for c in cells for line in c.python}
        candidates = (_BOUNDARY if n == 1 else f"{_BOUNDARY} {n}" for n in range(1, len(taken) + 2))
        self.boundary = next(b for b in candidates if b not in taken)
        parts: List[str] = []
        for i, cell in enumerate(cells):
            if i:
                parts.append(self.boundary + "\n")
                prev = cells[i - 1]
                self.rows.append(LineInfo(prev.number, len(prev.original) + 1))
            parts.extend(cell.python)
            self.rows.extend(cell.lines)
        self.text = "".join(parts)

    # -- positions -------------------------------------------------------------

    def place(self, line: int, col: int) -> Tuple[int, int, int]:
        """(cell, line in the cell, column) of a 1-based position in the joined text."""
        if not self.rows:
            return 1, line, col
        row = self.rows[min(max(line, 1), len(self.rows)) - 1]
        if row.shift and col > row.indent:
            col += row.shift
        return row.cell, row.row if line <= len(self.rows) else row.row + 1, col

    def joined_line(self, cell: int, row: int) -> int:
        """The joined text's line for line `row` of cell `cell` (the inverse of `place`).

        Lets a tool that edits lines of the joined text (e.g. adding `# noqa`) start
        from a located finding; writing goes through `render` as for fixes.
        Raises KeyError for a line that is not in a Python cell.
        """
        for n, info in enumerate(self.rows, 1):
            if info.cell == cell and info.row == row and n not in self.boundaries:
                return n
        raise KeyError((cell, row))

    @property
    def boundaries(self) -> frozenset:
        """The joined lines that separate cells (comments, in no cell)."""
        lines, out = 0, set()
        for cell in self.cells[:-1]:
            lines += len(cell.python) + 1
            out.add(lines)
        return frozenset(out)

    def locate(self, findings: Sequence[Finding]) -> List[Finding]:
        """Findings with the joined text's positions turned into cell positions."""
        out = []
        for f in findings:
            if f.cell is not None:
                out.append(f)
                continue
            cell, line, col = self.place(f.line, f.col)
            end_cell, end_line, end_col = self.place(f.end_line, f.end_col)
            if end_cell != cell:
                end_line, end_col = line, col
            fix = f.fix
            if fix is not None:
                edits = []
                for e in fix.edits:
                    _, el, ec = self.place(e.line, e.col)
                    _, eel, eec = self.place(e.end_line, e.end_col)
                    edits.append(Edit(e.content, el, ec, eel, eec))
                fix = dataclasses.replace(fix, edits=tuple(edits))
            out.append(dataclasses.replace(f, cell=cell, line=line, col=col, end_line=end_line, end_col=end_col, fix=fix))
        return out

    # -- writing back ------------------------------------------------------------

    def new_cells(self, new_text: str) -> List[Tuple[_Cell, str]]:
        """(cell, its new source text) for each cell that the fixed joined text changes."""
        chunks: List[List[str]] = [[]]
        for line in split_lines(new_text):
            if split_end(line)[0] == self.boundary:
                chunks.append([])
            else:
                chunks[-1].append(line)
        if not self.cells and new_text == "":
            return []
        if len(chunks) != len(self.cells):
            raise SourceError("the fixed text no longer lines up with the notebook's cells")
        changed = []
        for cell, new_lines in zip(self.cells, chunks):
            if new_lines == cell.python:
                continue
            restored = _restore(cell, new_lines)
            if cell.added_end and restored:
                body, end = split_end(restored[-1])
                restored[-1] = body if end == "\n" else restored[-1]
            text = "".join(restored)
            if text != "".join(cell.original):
                changed.append((cell, text))
        return changed

    def render(self, new_text: str) -> bytes:
        from freezelint.static.input.notebook_json import check_rewrite, rewrite_sources

        changed = self.new_cells(new_text)
        if not changed:
            return self.raw
        out = rewrite_sources(self.json_text, {c.position: text for c, text in changed})
        data = out.encode("utf-8")
        if self.bom:
            data = codecs.BOM_UTF8 + data
        check_rewrite(self.data, out, {c.position: text for c, text in changed})
        return data

    def diff(self, path: str, new_text: str) -> str:
        """Per changed cell, a unified diff of its source, headed `path:cell N` as ruff does."""
        import difflib

        out = []
        for cell, text in self.new_cells(new_text):
            name = f"{path}:cell {cell.number}"
            for line in difflib.unified_diff(cell.original, split_lines(text), f"a/{name}", f"b/{name}"):
                out.append(line if split_end(line)[1] else line + "\n\\ No newline at end of cell\n")
        return "".join(out)


def _restore(cell: _Cell, new_lines: List[str]) -> List[str]:
    """The new Python lines of a cell with its IPython syntax put back where it was."""
    import difflib

    out: List[str] = []
    matcher = difflib.SequenceMatcher(None, cell.python, new_lines, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.extend(cell.original[a0:a1])
            continue
        old_rows = cell.lines[a0:a1]
        if any(r.magic for r in old_rows):
            raise SourceError(f"a fix would change IPython syntax in cell {cell.number}")
        if op == "replace" and a1 - a0 == b1 - b0:
            for row, new in zip(old_rows, new_lines[b0:b1]):
                if row.shift:  # put the `%time ` prefix back in front of the statement
                    original = cell.original[row.row - 1]
                    indent = original[: row.indent]
                    if not new.startswith(indent):
                        raise SourceError(f"a fix would re-indent a %time line in cell {cell.number}")
                    new = indent + original[row.indent: row.indent + row.shift] + new[row.indent:]
                out.append(new)
            continue
        if any(r.shift for r in old_rows):
            raise SourceError(f"a fix would remove a %time line in cell {cell.number}")
        out.extend(new_lines[b0:b1])
    for i in range(len(out) - 1):  # the cell's last line, without a line end, is followed by lines a fix added
        if not split_end(out[i])[1]:
            out[i] += "\n"
    return out


# -- reading -----------------------------------------------------------------------


def _language(data: dict) -> str:
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        return "python"
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = meta.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str):
            return section[field].lower()
    return "python"


def _type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _cell_source(cell, number: int) -> str:
    if not isinstance(cell, dict):
        raise SourceError(f"not a valid notebook: cell {number} is {_type_name(cell)}, not an object")
    src = cell.get("source", "")
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        return "".join(src)
    if not isinstance(src, str):
        what = "a list with a non-string item" if isinstance(src, list) else _type_name(src)
        raise SourceError(f"not a valid notebook: the source of cell {number} is {what}, not a string or a list of strings")
    return src


def read_notebook(raw: bytes) -> Source:
    """The notebook's Python as a Source; SourceError with a one-line reason for a malformed one."""
    bom = raw.startswith(codecs.BOM_UTF8)
    body = raw[len(codecs.BOM_UTF8):] if bom else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise SourceError(f"notebook is not valid UTF-8: byte 0x{body[exc.start]:02x} cannot be decoded", line=line) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (empty file)" if not text.strip() else ""
        raise SourceError(f"notebook is not valid JSON: {exc.msg}{hint}", line=exc.lineno, col=exc.colno) from None
    except RecursionError:
        raise SourceError("notebook JSON is nested too deeply to read") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise SourceError("not a Jupyter notebook: the JSON has no `cells`")
    version = data.get("nbformat")
    if version != 4:
        shown = "missing" if version is None else json.dumps(version)
        raise SourceError(
            f"unsupported notebook format (nbformat {shown}); only nbformat 4 is read "
            "(convert with `jupyter nbconvert --to notebook --nbformat 4`)"
        )
    if not isinstance(data["cells"], list):
        raise SourceError(f"not a valid notebook: `cells` is {_type_name(data['cells'])}, not a list")
    sources = [_cell_source(cell, i + 1) for i, cell in enumerate(data["cells"])]
    cells: List[_Cell] = []
    if _language(data).startswith("python"):  # "python", "python3"; an R or Julia notebook is skipped
        for pos, (cell, src) in enumerate(zip(data["cells"], sources)):
            if cell.get("cell_type") != "code":
                continue
            original = split_lines(src)
            neutral = neutralise(pos + 1, original)
            if neutral is None:
                continue
            python, rows = neutral
            added = bool(python) and not split_end(python[-1])[1]
            if added:
                python[-1] += "\n"
            cells.append(_Cell(pos + 1, pos, original, python, rows, added))
    nb = Notebook(raw, text, data, cells, bom)
    return Source(text=nb.text, encoding="utf-8", bom=bom, raw=raw, cells=nb)


__all__ = ["NOTEBOOK_SUFFIX", "Notebook", "decode_path", "is_notebook", "raw_size_limit", "read_notebook"]
