"""Which Python the linted project targets: `target-version`, or `requires-python`.

The static pass parses with the Python running freezelint, so syntax newer than
that Python is a syntax error whatever the project targets; the target only
decides how that FRZ000 is worded.
"""

from __future__ import annotations

import re
import sys
from typing import Optional, Tuple


def parse_target_version(value: str, where: str) -> Tuple[int, int]:
    m = re.fullmatch(r"py3(\d{1,2})", value.strip().lower())
    if not m:
        raise ValueError(f"{where} must look like `py39` or `py312`, got {value!r}")
    return 3, int(m.group(1))


def target_from_requires_python(spec: str) -> Optional[Tuple[int, int]]:
    """The oldest Python 3 minor a `requires-python` specifier admits (None if it names none)."""
    lows = []
    for part in spec.split(","):
        m = re.match(r"\s*(>=|~=|==|>)\s*3\.(\d+)", part)
        if m:
            lows.append((3, int(m.group(2))))
    return min(lows) if lows else None


def running() -> Tuple[int, int]:
    return sys.version_info[0], sys.version_info[1]


def explain_syntax_error(message: str, target: Optional[Tuple[int, int]]) -> str:
    """Say so when a syntax error may only mean the project targets a newer Python."""
    if target is None or not message.startswith("syntax error") or target <= running():
        return message
    if "freezelint runs on" in message:  # the engine already named the Python this syntax needs
        return message
    want = "%d.%d" % target
    return (
        f"{message} (the project targets Python {want}, and freezelint runs on "
        f"{'%d.%d' % running()}, which cannot parse newer syntax: run freezelint with Python {want} or later)"
    )
