"""A one-line progress display on stderr, for terminals only.

Silent when stderr is not a terminal (pipes, files), under CI (`CI` set), with
`TERM=dumb`, and with `--quiet`; the line is erased before results print.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Mapping, Optional, TextIO

_WORDS = {"read": "reading", "lint": "linting"}


def wanted(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not env.get("CI") and env.get("TERM") != "dumb"


class ProgressLine:
    def __init__(self, stream: Optional[TextIO] = None, interval: float = 0.1):
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self._shown and now - self._last < self.interval:
            return
        self._last = now
        self._shown = True
        self.stream.write(f"\r\x1b[2K{_WORDS.get(phase, phase)} {done}/{total} files")
        self.stream.flush()

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False
