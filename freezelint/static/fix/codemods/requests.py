"""What a rule asks a codemod to do, in `ast` terms (no libcst here: rules import this module).

Each operation names the `ast` statements it works on; `build.build_fixes` finds the
same statements in the libcst tree by position. Statement texts are single lines of
source without indentation: the codemod indents them like their neighbours (`if c: x()`
becomes a two-line block).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Optional, Tuple, Union


@dataclass(frozen=True)
class Insert:
    """Insert `lines` after the statement `after`, in its block, at its indentation.

    `whole_loop`: first climb out of the `for` loops (and the `if`s inside them) that walk
    the parameters or modules the statement acts on, so a line meant to follow a loop
    freeze (`for p in m.parameters(): p.requires_grad = False`) goes after the loop."""

    after: ast.stmt
    lines: Tuple[str, ...]
    whole_loop: bool = False


@dataclass(frozen=True)
class KeepInTrain:
    """Make `cls`'s `train()` run `lines` after `super().train(mode)`: inside its own override
    when it has one, else in a new `train(self, mode=True)` override at the end of the class,
    which returns `self`."""

    cls: ast.ClassDef
    lines: Tuple[str, ...]


@dataclass(frozen=True)
class Move:
    """Move the one-line statement `stmt` to just after `after` (a later statement of the same
    block); with `wrap`, the expression `wrap` inside it becomes
    `filter(lambda p: p.requires_grad, <wrap>)`."""

    stmt: ast.stmt
    after: ast.stmt
    wrap: Optional[ast.expr] = None


Operation = Union[Insert, KeepInTrain, Move]


@dataclass(frozen=True)
class Codemod:
    """One fix: its description (what `--show-fixes` and code actions print) and its operations."""

    message: str
    operations: Tuple[Operation, ...]


def requires_grad_off(target: str) -> str:
    """The FRZ101 fix's line, and its advice."""
    return f"{target}.requires_grad_(False)"


def add_param_group(optimizer: str, target: str) -> str:
    """The FRZ203 fix's line, and its advice: only what was unfrozen (the filter keeps out what
    stayed frozen under it; torch refuses a parameter already in one of the optimizer's groups)."""
    return f'{optimizer}.add_param_group({{"params": [p for p in {target}.parameters() if p.requires_grad]}})'


def train_override(lines: Tuple[str, ...]) -> str:
    """The FRZ106/FRZ107 advice in words: what the override runs after `super().train(mode)`."""
    return "override `train()`: `super().train(mode)` then " + " and ".join(f"`{line}`" for line in lines)
