"""`freezelint run` / `watch()` settings: `[tool.freezelint.audit]` of the nearest pyproject.toml.

    [tool.freezelint.audit]
    frozen = ["backbone"]        # what must stay frozen (names or globs, as `frozen=`)
    trainable = ["head"]
    ignore = ["ema"]

Imports no torch.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

_KEYS = ("frozen", "trainable", "ignore")


class RunUsageError(Exception):
    """One line on stderr, exit 2."""


def _pyproject_near(start: str) -> Optional[str]:
    d = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(os.path.abspath(start)))
    while True:
        p = os.path.join(d, "pyproject.toml")
        if os.path.isfile(p):
            return p
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def read_audit_config(start: str) -> Tuple[Dict[str, List[str]], Optional[str]]:
    """`[tool.freezelint.audit]` of the nearest pyproject.toml: frozen / trainable / ignore lists."""
    path = _pyproject_near(start)
    if path is None:
        return {}, None
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RunUsageError(f"{path}: cannot read: {e}") from None
    section = data.get("tool", {}).get("freezelint", {}).get("audit")
    if section is None:
        return {}, path
    if not isinstance(section, dict):
        raise RunUsageError(f"{path}: [tool.freezelint.audit] must be a table")
    unknown = sorted(set(section) - set(_KEYS))
    if unknown:
        raise RunUsageError(f"{path}: unknown key in [tool.freezelint.audit]: {', '.join(unknown)} (expected frozen, trainable, ignore)")
    out: Dict[str, List[str]] = {}
    for k, v in section.items():
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
            raise RunUsageError(f"{path}: [tool.freezelint.audit] {k} must be a list of module or parameter names")
        out[k] = [s.strip() for s in v]
    return out, path


def config_selectors(start: str, **given: Any) -> Dict[str, Optional[List[str]]]:
    """frozen / trainable / ignore: what is given (a name or a list), else the pyproject's."""
    config, _ = read_audit_config(start)
    out: Dict[str, Optional[List[str]]] = {}
    for k in _KEYS:
        v = given.get(k)
        if isinstance(v, str):
            v = [v]
        out[k] = list(v) if v is not None else config.get(k)
    return out


__all__ = ["RunUsageError", "config_selectors", "read_audit_config"]
