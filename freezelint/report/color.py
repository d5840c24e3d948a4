"""`--color auto|always|never`, with the NO_COLOR and FORCE_COLOR conventions."""

from __future__ import annotations

import os
from typing import Mapping, TextIO


def use_color(choice: str, stream: TextIO, to_file: bool = False, env: Mapping[str, str] = os.environ) -> bool:
    """always/never win; for auto, NO_COLOR (non-empty) turns colour off, then
    FORCE_COLOR (non-empty) turns it on, else a terminal gets colour. An output
    file gets colour only with `always`."""
    if choice == "always":
        return True
    if choice == "never" or to_file:
        return False
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
