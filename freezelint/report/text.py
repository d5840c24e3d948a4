"""`path:line:col: FRZ001 [*] message` (concise, as ruff and flake8 print) and the summary line."""

from __future__ import annotations

from typing import Dict, Sequence

from freezelint.findings import Finding, Severity

_BOLD, _RED, _CYAN, _RESET = "\x1b[1m", "\x1b[31m", "\x1b[36m", "\x1b[0m"


def format_location(f: Finding) -> str:
    if f.source == "runtime":
        return f.obj or "<model>"
    if f.cell is not None:  # a notebook, as ruff prints it
        return f"{f.path}:cell {f.cell}:{f.line}:{f.col}"
    return f"{f.path}:{f.line}:{f.col}"


def headline(f: Finding, color: bool = False) -> str:
    loc = format_location(f)
    mark = " [*]" if f.fix is not None and f.fix.applicability.value == "safe" else ""
    if color:
        return f"{_BOLD}{loc}{_RESET}: {_RED}{_BOLD}{f.code}{_RESET}{_CYAN}{mark}{_RESET} {f.message}"
    return f"{loc}: {f.code}{mark} {f.message}"


def render(findings: Sequence[Finding], color: bool = False, show_fixes: bool = False) -> str:
    lines = []
    for f in findings:
        lines.append(headline(f, color))
        if show_fixes and f.fix is not None and f.fix.message:
            lines.append(f"    = fix ({f.fix.applicability.value}): {f.fix.message}")
    return "\n".join(lines) + ("\n" if lines else "")


_WORDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def count_words(findings: Sequence[Finding]) -> str:
    """`3 errors and 2 warnings`: each severity counted, errors first."""
    counts: Dict[Severity, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    parts = [f"{counts[s]} {w}{'s' if counts[s] != 1 else ''}" for s, w in _WORDS.items() if counts.get(s)]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def summary(findings: Sequence[Finding], fixed: int = 0, unsafe_hidden: int = 0) -> str:
    """The one-line summary printed on stderr after the findings."""
    parts = ["All checks passed!" if not findings else f"Found {count_words(findings)}."]
    if fixed:
        parts.append(f"Fixed {fixed}.")
    fixable = sum(1 for f in findings if f.fixable and f.fix.applicability.value == "safe")
    if fixable:
        parts.append(f"[*] {fixable} fixable with the `--fix` option.")
    if unsafe_hidden:
        parts.append(f"{unsafe_hidden} more fixable with `--unsafe-fixes`.")
    return " ".join(parts)


def fix_summary(fixed: int, verb: str = "Fixed", unsafe_hidden: int = 0) -> str:
    """`--fix-only` and `--diff`: `Fixed 3 fixes.` / `Would fix 3.` / `No fixes applied.`"""
    hint = f" ({unsafe_hidden} more with `--unsafe-fixes`)" if unsafe_hidden else ""
    if not fixed:
        return ("No fixes applied." if verb == "Fixed" else "No fixes would be applied.") + hint
    return f"{verb} {fixed} {'finding' if fixed == 1 else 'findings'}.{hint}"


def fixes_applied(by_file: Dict[str, "Dict[str, int]"], names: Dict[str, str]) -> str:
    """`--show-fixes` after `--fix`: what was fixed, per file and code (ruff's enumeration)."""
    total = sum(sum(c.values()) for c in by_file.values())
    if not total:
        return "No fixes applied.\n"
    out = [f"Fixed {total} {'finding' if total == 1 else 'findings'}:"]
    for path in sorted(by_file):
        if not by_file[path]:
            continue
        out.append(f"- {path}:")
        for code, n in sorted(by_file[path].items()):
            out.append(f"    {n} × {code} ({names.get(code, '')})")
    return "\n".join(out) + "\n"
