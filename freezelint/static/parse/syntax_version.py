"""Which Python a syntax error's construct needs, when it is newer than the running one.

CPython only says "invalid syntax" for a construct of a later grammar; users need
to hear "this is Python 3.12 syntax". Each check looks at the offending line only.
"""

from __future__ import annotations

import re
import sys
from typing import Optional, Tuple

# (version, pattern on the error line)
_CONSTRUCTS = (
    ((3, 14), re.compile(r"""(?<![\w'"])[tT][rR]?['"]|(?<![\w'"])[rR][tT]['"]""")),  # template strings
    ((3, 12), re.compile(r"^\s*type\s+[A-Za-z_]\w*\s*(\[[^\]]*\])?\s*=")),  # type aliases
    ((3, 12), re.compile(r"^\s*(async\s+)?(def|class)\s+[A-Za-z_]\w*\s*\[")),  # type parameters
    ((3, 11), re.compile(r"^\s*except\s*\*")),  # exception groups
    ((3, 10), re.compile(r"^\s*(match|case)\s+.*:\s*(#.*)?$")),  # structural pattern matching
)
_FSTRING_START = re.compile(r"""(?<![\w])[fF][rR]?(['"])|(?<![\w])[rR][fF](['"])""")


def needed_python(text: str, exc: SyntaxError) -> Optional[Tuple[int, int]]:
    """The (major, minor) the failing line needs, if newer than this Python; else None."""
    line = _error_line(text, exc)
    if line is None:
        return None
    running = sys.version_info[:2]
    for version, pattern in _CONSTRUCTS:
        if version > running and pattern.search(line):
            return version
    if (3, 12) > running and _nested_fstring_quotes(line):
        return (3, 12)  # PEP 701: the f-string's own quote inside its braces
    return None


def _error_line(text: str, exc: SyntaxError) -> Optional[str]:
    if not exc.lineno:
        return None
    lines = text.splitlines()
    if exc.lineno > len(lines):
        return None
    return lines[exc.lineno - 1]


def _nested_fstring_quotes(line: str) -> bool:
    m = _FSTRING_START.search(line)
    if not m:
        return False
    quote = m.group(1) or m.group(2)
    rest = line[m.end():]
    depth = 0
    for ch in rest:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == quote:
            if depth > 0:
                return True
            return False
    return False
