"""`--output-format full`: each finding with its source lines and a caret under the span."""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from freezelint.findings import Finding
from freezelint.report.text import headline

CONTEXT = 2  # lines shown before and after the span, as ruff shows
MAX_SPAN_LINES = 6
_BLUE, _RED, _BOLD, _RESET = "\x1b[34m", "\x1b[31m", "\x1b[1m", "\x1b[0m"

# path -> the file's lines (without line ends), or None when it cannot be read
LineSource = Callable[[str], Optional[List[str]]]


def _snippet(f: Finding, lines: List[str], color: bool) -> List[str]:
    first = max(1, f.line - CONTEXT)
    last_span = min(f.end_line, f.line + MAX_SPAN_LINES - 1)
    last = min(len(lines), max(f.line, last_span) + CONTEXT)
    width = len(str(last))
    blue = (lambda s: f"{_BLUE}{_BOLD}{s}{_RESET}") if color else (lambda s: s)
    red = (lambda s: f"{_RED}{_BOLD}{s}{_RESET}") if color else (lambda s: s)
    out = [blue(" " * width + " |")]
    for n in range(first, last + 1):
        raw = lines[n - 1]
        out.append(f"{blue(f'{n:>{width}} |')} {raw.expandtabs(4)}".rstrip())
        if n == f.line:
            start = len(raw[: f.col - 1].expandtabs(4))
            end_col = f.end_col if f.end_line == f.line else len(raw) + 1
            end = max(start + 1, len(raw[: end_col - 1].expandtabs(4)))
            out.append(f"{blue(' ' * width + ' |')} {' ' * start}{red('^' * (end - start) + ' ' + f.code)}")
    out.append(blue(" " * width + " |"))
    return out


def render(findings: Sequence[Finding], lines_of: LineSource, color: bool = False) -> str:
    blocks = []
    for f in findings:
        block = [headline(f, color)]
        # A notebook's rows count from its cell; the cell's text is not at hand here.
        lines = lines_of(f.path) if f.source == "static" and f.cell is None else None
        if lines is not None and 1 <= f.line <= len(lines):
            block += _snippet(f, lines, color)
        if f.fix is not None and f.fix.message:
            pad = " " * (len(str(min(len(lines or []), f.line + CONTEXT))) if lines else 1)
            block.append(f"{pad} = help: {f.fix.message}")
        blocks.append("\n".join(block) + "\n")
    return "\n".join(blocks)
