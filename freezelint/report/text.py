"""`path:line:col: FRZ001 [*] message`, as ruff and flake8 print."""

from __future__ import annotations

from typing import Sequence

from freezelint.findings import Finding

_BOLD, _RED, _CYAN, _RESET = "\x1b[1m", "\x1b[31m", "\x1b[36m", "\x1b[0m"


def format_location(f: Finding) -> str:
    if f.source == "runtime":
        return f.obj or "<model>"
    if f.cell is not None:  # a notebook, as ruff prints it
        return f"{f.path}:cell {f.cell}:{f.line}:{f.col}"
    return f"{f.path}:{f.line}:{f.col}"


def render(findings: Sequence[Finding], color: bool = False) -> str:
    lines = []
    for f in findings:
        loc = format_location(f)
        mark = " [*]" if f.fix is not None and f.fix.applicability.value == "safe" else ""
        if color:
            lines.append(f"{_BOLD}{loc}{_RESET}: {_RED}{_BOLD}{f.code}{_RESET}{_CYAN}{mark}{_RESET} {f.message}")
        else:
            lines.append(f"{loc}: {f.code}{mark} {f.message}")
    return "\n".join(lines) + ("\n" if lines else "")


def summary(findings: Sequence[Finding], fixed: int = 0, unsafe_hidden: int = 0) -> str:
    """The one-line summary printed on stderr after the findings."""
    n = len(findings)
    parts = []
    if n == 0:
        parts.append("All checks passed!")
    else:
        parts.append(f"Found {n} error{'s' if n != 1 else ''}.")
    if fixed:
        parts.append(f"Fixed {fixed}.")
    fixable = sum(1 for f in findings if f.fixable and f.fix.applicability.value == "safe")
    if fixable:
        parts.append(f"[*] {fixable} fixable with the `--fix` option.")
    if unsafe_hidden:
        parts.append(f"{unsafe_hidden} more fixable with `--unsafe-fixes`.")
    return " ".join(parts)
