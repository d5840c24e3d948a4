"""IPython syntax in a notebook cell, turned into Python that does nothing.

Magics (`%time`, `%%capture`, `%load_ext`...), `!shell` lines, `x = !cmd` and
`?help` are replaced line for line, so the cell keeps its line count and the
code around them keeps its positions. A cell magic whose body is not Python
(`%%bash`, `%%writefile`...) makes the whole cell not Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

# Cell magics whose body IPython runs as Python (ruff's list); any other cell magic
# (%%bash, %%writefile, %%html...) makes the cell something else, and it is skipped.
PYTHON_CELL_MAGICS = frozenset({"capture", "debug", "prun", "pypy", "python", "python3", "time", "timeit"})

LINE_END = re.compile(r"\r\n|\r|\n")  # the line ends Python counts
_CELL_MAGIC = re.compile(r"[ \t]*%%(\w*)")
# `%time stmt` / `%timeit stmt` run stmt as Python: it is linted in place (no options).
_TIMED = re.compile(r"%(?:time|timeit)[ \t]+(?=[^\s-])")
# `x = !ls`, `a, b = %sx cmd` (IPython's own pattern for system/magic assignment)
_ASSIGN_MAGIC = re.compile(r"([\w.]+(?:[ \t]*,[ \t]*[\w.]+)*)[ \t]*=[ \t]*[!%]")
_MAGIC_STARTS = ("%", "!", "?", "/", ",", ";")  # no Python statement starts with these
# IPython compiles each cell on its own, so a `__future__` import may open any cell;
# in the joined text it would be a syntax error after the first cell.
_FUTURE = re.compile(r"from[ \t]+__future__[ \t]+import\b")


def split_lines(text: str) -> List[str]:
    """The text's lines as Python counts them, each with its line end."""
    starts = [0] + [m.end() for m in LINE_END.finditer(text)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)]) if a < b]


def split_end(line: str) -> Tuple[str, str]:
    """(the line without its end, its end)."""
    m = LINE_END.search(line)
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
class LineInfo:
    cell: int  # 1-based index over all the notebook's cells
    row: int  # 1-based line in the cell
    indent: int = 0  # columns of indentation kept in front of a `%time ` prefix that was removed
    shift: int = 0  # length of that prefix: columns after the indent move right by it
    magic: bool = False  # the line was IPython syntax, replaced by Python that does nothing


def _mark(k: int) -> str:
    """The comment that stands in for (or follows the stand-in of) a line that is not
    analysed, on 0-based line k of a cell. Unique in the cell, so that matching a fixed
    cell's lines to the old ones never takes one stand-in for another, or for real code.
    No words: rules that read comments (FRZ101's "commented as a freeze") find nothing."""
    return f"# {k + 1}"


def neutralise(number: int, lines: List[str]) -> Optional[Tuple[List[str], List[LineInfo]]]:
    """The cell's lines as Python (same count), or None for a cell that is not Python."""
    out: List[str] = []
    info: List[LineInfo] = []
    scanner = _Scanner()
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    magic_continues = future_continues = False
    for k, line in enumerate(lines):
        body, end = split_end(line)
        row = LineInfo(number, k + 1)
        info.append(row)
        if magic_continues or future_continues:  # the rest of a `!cmd \` or `from __future__ import (`
            out.append(_mark(k) + end)
            row.magic = True
            magic_continues = magic_continues and body.endswith("\\")
            if future_continues:
                scanner.feed(body)
                future_continues = not scanner.at_start
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
            elif _FUTURE.match(stripped):
                scanner.feed(body)
                out.append(indent + "pass  " + _mark(k) + end)
                row.magic = True
                future_continues = not scanner.at_start
                continue
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


__all__ = ["LINE_END", "PYTHON_CELL_MAGICS", "LineInfo", "neutralise", "split_end", "split_lines"]
