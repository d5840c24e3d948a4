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
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from freezelint.findings import Edit, Finding
from freezelint.static.source import Source, SourceError, decode

NOTEBOOK_SUFFIX = ".ipynb"

# Cell magics whose body IPython runs as Python (ruff's list); any other cell magic
# (%%bash, %%writefile, %%html...) makes the cell something else, and it is skipped.
PYTHON_CELL_MAGICS = frozenset({"capture", "debug", "prun", "pypy", "python", "python3", "time", "timeit"})

_LINE_END = re.compile(r"\r\n|\r|\n")  # the line ends Python counts
_CELL_MAGIC = re.compile(r"[ \t]*%%(\w*)")
# `%time stmt` / `%timeit stmt` run stmt as Python: it is linted in place (no options).
_TIMED = re.compile(r"%(?:time|timeit)[ \t]+(?=[^\s-])")
# `x = !ls`, `a, b = %sx cmd` (IPython's own pattern for system/magic assignment)
_ASSIGN_MAGIC = re.compile(r"([\w.]+(?:[ \t]*,[ \t]*[\w.]+)*)[ \t]*=[ \t]*[!%]")
_MAGIC_STARTS = ("%", "!", "?", "/", ",", ";")  # no Python statement starts with these
# Joined between cells. A comment: it never changes how the cells around it parse,
# and lets a fixed text be split back into cells even when a fix changes line counts.
_BOUNDARY = "# freezelint: notebook cell boundary"


def is_notebook(path: str) -> bool:
    return path.lower().endswith(NOTEBOOK_SUFFIX)


def decode_path(path: str, raw: bytes) -> Source:
    """Decode a file's bytes: a notebook's Python cells for .ipynb, else Python source."""
    return read_notebook(raw) if is_notebook(path) else decode(raw)


def _lines(text: str) -> List[str]:
    starts = [0] + [m.end() for m in _LINE_END.finditer(text)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)]) if a < b]


def _body(line: str) -> Tuple[str, str]:
    m = _LINE_END.search(line)
    return (line[: m.start()], line[m.start():]) if m else (line, "")


class _Scanner:
    """Just enough of Python's tokenizer to tell where a logical line starts:
    outside brackets, strings and backslash continuations."""

    def __init__(self):
        self.depth = 0
        self.quote: Optional[str] = None  # the open string's delimiter
        self.continued = False

    @property
    def at_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, body: str) -> str:
        """Consume one line (without its end); return its last code character."""
        last, i, n = "", 0, len(body)
        self.continued = False
        while i < n:
            ch = body[i]
            if self.quote is not None:
                if ch == "\\":
                    i += 2
                    continue
                if body.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote, last = None, "'"
                    continue
                i += 1
                continue
            if ch == "#":
                break
            if ch in "'\"":
                self.quote = ch * 3 if body.startswith(ch * 3, i) else ch
                i += len(self.quote)
                continue
            if ch in "([{":
                self.depth += 1
            elif ch in ")]}":
                self.depth = max(0, self.depth - 1)
            if ch == "\\" and i == n - 1:
                self.continued = True
            elif not ch.isspace():
                last = ch
            i += 1
        if self.quote is not None and len(self.quote) == 1 and not body.endswith("\\"):
            self.quote = None  # an unterminated one-line string: let the parser report it
        return last


@dataclass
class _Line:
    cell: int  # 1-based index over all the notebook's cells
    row: int  # 1-based line in the cell
    indent: int = 0  # columns of indentation kept in front of a `%time ` prefix that was removed
    shift: int = 0  # length of that prefix: columns after the indent move right by it
    magic: bool = False  # the line was IPython syntax, replaced by Python that does nothing


@dataclass
class _Cell:
    number: int  # 1-based, over all cells
    position: int  # 0-based index in the notebook's "cells" array
    original: List[str]  # the cell's lines as the notebook has them
    python: List[str]  # the same lines, IPython syntax neutralised
    lines: List[_Line]
    added_end: bool  # the cell did not end with a line end; the joined text adds one


def _mark(k: int) -> str:
    """The comment that stands in for (or follows the stand-in of) IPython syntax on
    0-based line k of a cell. Unique in the cell, so that matching a fixed cell's
    lines to the old ones never takes one stand-in for another, or for real code."""
    return f"# IPython syntax, line {k + 1}"


def _neutralise(number: int, lines: List[str]) -> Optional[Tuple[List[str], List[_Line]]]:
    """The cell's lines as Python (same count), or None for a cell that is not Python."""
    out: List[str] = []
    info: List[_Line] = []
    scanner = _Scanner()
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    magic_continues = False
    for k, line in enumerate(lines):
        body, end = _body(line)
        row = _Line(number, k + 1)
        info.append(row)
        if magic_continues:  # the rest of a `!cmd \` spanning lines
            out.append(_mark(k) + end)
            row.magic = True
            magic_continues = body.endswith("\\")
            continue
        if k == first and body.lstrip().startswith("%%"):
            if _CELL_MAGIC.match(body).group(1) not in PYTHON_CELL_MAGICS:
                return None
            out.append(_mark(k) + end)
            row.magic = True
            continue
        stripped = body.lstrip(" \t")
        indent = body[: len(body) - len(stripped)]
        replacement = None
        if scanner.at_start:
            timed = _TIMED.match(stripped)
            assign = _ASSIGN_MAGIC.match(stripped)
            if timed:
                row.indent, row.shift = len(indent), timed.end()
                body = indent + stripped[timed.end():]
            elif stripped.startswith(_MAGIC_STARTS):
                replacement = indent + "pass"
            elif assign:
                replacement = indent + assign.group(1) + " = None"
        if replacement is None:
            was_start = scanner.at_start
            last = scanner.feed(body)
            if was_start and last == "?" and scanner.at_start:  # `obj?`, `obj.attr??`: help
                replacement = indent + "pass"
        if replacement is not None:
            out.append(replacement + "  " + _mark(k) + end)
            row.magic = True
            magic_continues = body.endswith("\\")
            continue
        out.append(body + end)
    return out, info


class Notebook:
    """A parsed notebook: the joined Python text and the way back to cells and bytes."""

    def __init__(self, raw: bytes, text: str, data: dict, cells: List[_Cell], bom: bool):
        self.raw = raw
        self.json_text = text  # the file's JSON, decoded
        self.data = data
        self.cells = cells
        self.bom = bom
        self.rows: List[_Line] = []  # joined line n -> rows[n - 1]
        parts: List[str] = []
        for i, cell in enumerate(cells):
            if i:
                parts.append(_BOUNDARY + "\n")
                prev = cells[i - 1]
                self.rows.append(_Line(prev.number, len(prev.original) + 1))
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
        for line in _lines(new_text):
            if _body(line)[0] == _BOUNDARY:
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
                body, end = _body(restored[-1])
                restored[-1] = body if end == "\n" else restored[-1]
            text = "".join(restored)
            if text != "".join(cell.original):
                changed.append((cell, text))
        return changed

    def render(self, new_text: str) -> bytes:
        from freezelint.static.notebook_json import check_rewrite, rewrite_sources

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
            for line in difflib.unified_diff(cell.original, _lines(text), f"a/{name}", f"b/{name}"):
                out.append(line if _body(line)[1] else line + "\n\\ No newline at end of cell\n")
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
        shown = version if isinstance(version, int) else "missing"
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
            original = _lines(src)
            neutral = _neutralise(pos + 1, original)
            if neutral is None:
                continue
            python, rows = neutral
            added = bool(python) and not _body(python[-1])[1]
            if added:
                python[-1] += "\n"
            cells.append(_Cell(pos + 1, pos, original, python, rows, added))
    nb = Notebook(raw, text, data, cells, bom)
    if any(_BOUNDARY in line for c in cells for line in c.original):
        raise SourceError("a cell contains freezelint's own cell boundary comment; notebook skipped")
    return Source(text=nb.text, encoding="utf-8", bom=bom, raw=raw, cells=nb)


__all__ = ["NOTEBOOK_SUFFIX", "Notebook", "decode_path", "is_notebook", "read_notebook"]
