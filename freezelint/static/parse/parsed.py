"""Trees parsed while summarising, kept for the lint phase so a file is parsed once.

Phase 1 of a run parses every file for its summary; phase 2 lints the files the
prefilter lets through. The trees of those files are kept (within a budget of
source characters, since a tree costs ~70 bytes per source byte) and handed to
the linter, in this process or in workers forked after phase 1. Every text that
parsed and compiled here is remembered, so phase 2 need not compile it again
just to report syntax errors.
"""

from __future__ import annotations

import ast
from typing import Dict, FrozenSet, Optional, Tuple

# Source characters whose trees may be kept at once (~200 MB of trees).
BUDGET_CHARS = 3_000_000

_kept: Dict[Tuple[int, int], Tuple[str, ast.Module]] = {}
_compiled: Dict[Tuple[int, int], FrozenSet[str]] = {}  # text key -> codes of the rules that may fire on it
_used = 0


def _key(text: str) -> Tuple[int, int]:
    return hash(text), len(text)


def remember(text: str, tree: ast.Module, triggered: FrozenSet[str]) -> None:
    """`text` parsed and compiled to `tree`, and these rules' prefilters let it through; the tree is
    kept if some rule may fire on it."""
    global _used
    key = _key(text)
    if len(_compiled) > 200_000:  # a long-lived process (the language server) never calls forget()
        _compiled.clear()
    _compiled[key] = triggered
    if triggered and key not in _kept and _used + len(text) <= BUDGET_CHARS:
        _kept[key] = (text, tree)
        _used += len(text)


def take(text: str) -> Optional[ast.Module]:
    """The kept tree of exactly this text (once), or None."""
    global _used
    entry = _kept.pop(_key(text), None)
    if entry is None:
        return None
    _used -= len(entry[0])
    return entry[1] if entry[0] == text else None


def compiled(text: str) -> bool:
    """This text already parsed and compiled in this run (so it has no syntax error to report)."""
    return _key(text) in _compiled


def triggered(text: str) -> Optional[FrozenSet[str]]:
    """The codes whose prefilter let this text through when it was summarised; None if it was not."""
    return _compiled.get(_key(text))


def forget() -> None:
    global _used
    _kept.clear()
    _compiled.clear()
    _used = 0
