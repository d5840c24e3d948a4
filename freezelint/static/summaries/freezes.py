"""What a file freezes, for the project model (summary.ClassSummary / FileSummary).

- `class_freezes(cls)`: the `self.<attr>` submodules a class's methods freeze or pin
  (`self.x.requires_grad_(False)`, a `for p in self.x.parameters()` loop setting
  `requires_grad`, `self.x.eval()`, `self.x = m.eval()`, `self.x.train = f`,
  `freeze(self.x)`), and whether it also freezes what cannot be pinned to one attribute
  (`self.requires_grad_(False)`, a loop over `self.parameters()`, `self.freeze()`).
- `freeze_words(text)`: attribute names written on or just above any line of the file that
  freezes (`requires_grad`, `freeze`, a `*trainable(` call): a wide net, so a class's submodule is
  never called "never frozen" when some script of the project may freeze it by name.

Both run only on files whose text has a freeze word (the caller checks), so most files cost nothing.
"""

from __future__ import annotations

import ast
import re
from typing import Dict, List, Optional, Set, Tuple

from freezelint.static.parse.astutil import dotted_name

# not `self.cond_stage_trainable`; case-sensitive alternatives: an IGNORECASE search costs ~6% of a parse
FREEZE_WORDS = re.compile(r"requires_grad|[Ff]reeze|FREEZE|trainable\s*\(")
_GATE_WORDS = ("requires_grad", "reeze", "REEZE", "trainable")
_ATTR_NAME = re.compile(r"\.([A-Za-z_]\w*)")
_ITER_METHODS = frozenset({"parameters", "named_parameters", "modules", "named_modules", "children", "named_children"})
_FREEZE_CALL_WORDS = ("freeze", "requires_grad", "trainable", "frozen")
_SELF = "self"


def _self_attr_of(expr: ast.AST) -> Optional[str]:
    """`self.x`, `self.x.y[0].z` -> "x"; `self` -> "self"; anything else -> None."""
    while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == _SELF:
            return expr.attr
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    if isinstance(expr, ast.Name) and expr.id == _SELF:
        return _SELF
    return None


class _Method:
    """One method's freezes, with its loop variables and local aliases mapped to `self` attributes."""

    def __init__(self, frozen: Set[str]):
        self.frozen = frozen
        self.unknown = False
        self.names: Dict[str, str] = {}  # local name -> self attribute it stands for ("self": the whole module)

    def owner(self, expr: ast.AST) -> Optional[str]:
        got = _self_attr_of(expr)
        if got is not None:
            return got
        while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
            expr = expr.func if isinstance(expr, ast.Call) else expr.value
        return self.names.get(expr.id) if isinstance(expr, ast.Name) else None

    def mark(self, owner: Optional[str]) -> None:
        if owner == _SELF:
            self.unknown = True
        elif owner is not None:
            self.frozen.add(owner)

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            it = node.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _ITER_METHODS:
                owner = self.owner(it.func.value)
                if owner is not None:
                    for n in ast.walk(node.target):
                        if isinstance(n, ast.Name):
                            self.names[n.id] = owner
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Attribute) and t.attr in ("requires_grad", "train"):
                    self.mark(self.owner(t.value))
                elif isinstance(t, ast.Name):
                    owner = _self_attr_of(node.value)
                    if owner is not None:
                        self.names[t.id] = owner
                elif isinstance(t, ast.Attribute) and _self_attr_of(t) not in (None, _SELF):
                    v = node.value
                    if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in ("eval", "requires_grad_"):
                        self.frozen.add(_self_attr_of(t))  # `self.vae = vae.eval()`
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "requires_grad_":
                self.mark(self.owner(func.value))
            elif isinstance(func, ast.Attribute) and (func.attr == "eval" or (func.attr == "train" and node.args)):
                owner = self.owner(func.value)
                if owner != _SELF:  # the whole module's mode is not a freeze of a part of it
                    self.mark(owner)
            name = (dotted_name(func) or "").rsplit(".", 1)[-1].lower()
            if any(w in name for w in _FREEZE_CALL_WORDS):
                args = list(node.args) + [k.value for k in node.keywords]
                owners = [self.owner(a) for a in args]
                if isinstance(func, ast.Attribute) and not args:
                    owners = [self.owner(func.value)]  # `self.backbone.freeze()` / `self.freeze()`
                for o in owners:
                    self.mark(o)


# Words without which a method freezes or pins nothing (the method gate).
HOT_WORDS = re.compile(r"requires_grad|[Ff]reeze|FREEZE|trainable\s*\(|\.eval\b|\.train\b")


def may_freeze(text: str) -> bool:
    """The cheap gate (substring tests): False means the file freezes nothing."""
    return any(w in text for w in _GATE_WORDS)


def hot_lines(text: str) -> Set[int]:
    """Line numbers (1-based) holding a word `class_freezes` could act on."""
    lines: Set[int] = set()
    line, last = 1, 0
    for m in HOT_WORDS.finditer(text):  # in order: count the newlines since the last match only
        line += text.count("\n", last, m.start())
        last = m.start()
        lines.add(line)
    return lines


def is_hot(fn: ast.AST, hot: Optional[Set[int]]) -> bool:
    """The function has one of the `hot` lines (None: every function counts)."""
    return hot is None or any(ln in hot for ln in range(fn.lineno, (fn.end_lineno or fn.lineno) + 1))


def class_freezes(node: ast.ClassDef, hot: Optional[Set[int]] = None) -> Tuple[List[str], bool]:
    """(attributes some method freezes or pins in eval, whether it also freezes what is not one attribute).

    With `hot` (from `hot_lines`), methods with none of those lines are not walked."""
    frozen: Set[str] = set()
    unknown = False
    for stmt in node.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if not is_hot(stmt, hot):
            continue
        m = _Method(frozen)
        for d in stmt.decorator_list:
            m.visit(d)
        for n in _ordered(stmt):
            m.visit(n)
        unknown = unknown or m.unknown
    frozen.discard(_SELF)
    return sorted(frozen), unknown


def _ordered(fn: ast.AST):
    """The function's nodes, loops before their bodies (so loop variables are known when used)."""
    stack = list(reversed(fn.body))
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(n))))


_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
# torch layers that hold parameters with their default arguments, as written (`nn.Linear`, `torch.nn.Conv2d`)
_PARAM_LAYER = re.compile(
    r"^(torch\.)?nn\.(Linear|Bilinear|Conv[123]d|ConvTranspose[123]d|Embedding|EmbeddingBag|LSTM|GRU|RNN|"
    r"MultiheadAttention|LayerNorm|GroupNorm|BatchNorm[123]d|Transformer(Encoder|Decoder)?(Layer)?|PReLU)$"
)


def container_holds_params(call: ast.Call) -> bool:
    """`nn.Sequential(nn.Conv2d(...), nn.ReLU())` / `nn.ModuleList([nn.Linear(...) for _ in ...])`: a torch
    container built here around a layer that certainly has parameters."""
    if (dotted_name(call.func) or "").rsplit(".", 1)[-1] not in _CONTAINERS:
        return False
    return any(
        isinstance(n, ast.Call) and _PARAM_LAYER.match(dotted_name(n.func) or "")
        and not any(k.arg in ("affine", "elementwise_affine") for k in n.keywords)  # maybe no weights
        for n in ast.walk(call)
    )


def freeze_words(text: str) -> List[str]:
    """Attribute names on each line that says requires_grad/freeze/trainable, and on the line above it."""
    out: Set[str] = set()
    for m in FREEZE_WORDS.finditer(text):
        line = text.rfind("\n", 0, m.start())
        start = (text.rfind("\n", 0, line) if line > 0 else -1) + 1
        end = text.find("\n", m.end())
        out.update(_ATTR_NAME.findall(text[start: end if end >= 0 else len(text)]))
    return sorted(out)
