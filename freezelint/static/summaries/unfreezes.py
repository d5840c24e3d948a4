"""The names a file sets trainable: what a module class of another file can learn about its instances.

`unfreeze_words(tree)` lists, for each statement that sets `requires_grad` True, the names of what it
sets trainable:

- `x.vision_tower.requires_grad_(True)` / `requires_grad_()`: the names of the receiver (`x`, `vision_tower`);
- `p.requires_grad = True` (or `p.requires_grad_(True)`) for a loop variable `p` of
  `for p in model.get_model().mm_projector.parameters()` or `for n, p in model.named_parameters()`: the
  names of the loop's receiver, and the dotted pieces of the strings the `if` tests around the statement
  inside the loop compare the name with (`if "model.vision_tower" in n:` gives `model`, `vision_tower`),
  unless the test is negated (`not in`: those parts are the ones left alone).

`unfreezes(tree)` also gives the paths of what is set trainable, segments joined by dots: the receiver
(`vision_tower.vision_tower.vision_model.encoder.layers.[]`, `model.get_model.().mm_projector`: `[]` an index,
`()` a call's result) and the strings the `if` tests look for (`model.vision_tower*`: the last piece of a
substring may be the start of a longer name).

A class whose `forward` runs under `torch.no_grad()` asks whether the project sets an attribute name it is
stored under trainable anywhere, through a path that exists below its instances (FRZ111). Statements only;
one walk of the tree.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterator, List, Optional, Set, Tuple

from freezelint.static.parse.astutil import FUNCTION_NODES, bool_literal

_PARAM_METHODS = ("parameters", "named_parameters")


def unfreeze_words(tree: ast.Module) -> List[str]:
    return unfreezes(tree)[0]


def unfreezes(tree: ast.Module) -> Tuple[List[str], List[str]]:
    """(the names of what the file sets trainable, the paths of it)."""
    out: Set[str] = set()
    paths: Set[str] = set()
    _walk(tree.body, {}, [], out, paths)
    return sorted(out), sorted(paths)


def _walk(body: List[ast.stmt], loops: Dict[str, ast.expr], tests: List[ast.expr], out: Set[str], paths: Set[str]) -> None:
    for stmt in body:
        if isinstance(stmt, FUNCTION_NODES + (ast.ClassDef,)):
            _walk(stmt.body, {}, [], out, paths)
            continue
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            inner = dict(loops)
            var = _param_loop_var(stmt)
            if var is not None:
                inner[var] = stmt.iter.func.value  # type: ignore[union-attr]
            _walk(stmt.body, inner, [] if var is not None else tests, out, paths)
            _walk(stmt.orelse, loops, tests, out, paths)
            continue
        if isinstance(stmt, ast.If):
            _walk(stmt.body, loops, tests + [stmt.test], out, paths)
            _walk(stmt.orelse, loops, tests, out, paths)
            continue
        if not isinstance(stmt, (ast.Expr, ast.Assign)):
            for inner in _inner_bodies(stmt):
                _walk(inner, loops, tests, out, paths)
            continue
        target = _unfrozen(stmt)
        if target is None:
            continue
        if isinstance(target, ast.Name) and target.id in loops:
            out.update(_names(loops[target.id]))
            paths.add(_path(loops[target.id]))
            for t in tests:
                out.update(_tested_parts(t))
                paths.update(_tested_path(s) for s in _tested_strings(t))
        else:
            out.update(_names(target))
            paths.add(_path(target))


def _inner_bodies(stmt: ast.stmt) -> Iterator[List[ast.stmt]]:
    """The statement lists of a with/while/try/match."""
    for name in ("body", "orelse", "finalbody"):
        inner = getattr(stmt, name, None)
        if isinstance(inner, list):
            yield inner
    for h in getattr(stmt, "handlers", None) or ():
        yield h.body
    for c in getattr(stmt, "cases", None) or ():
        yield c.body


def _param_loop_var(loop: ast.stmt) -> Optional[str]:
    """`p` of `for p in x.parameters()` / `for n, p in x.named_parameters()`."""
    it = loop.iter  # type: ignore[attr-defined]
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _PARAM_METHODS):
        return None
    t = loop.target  # type: ignore[attr-defined]
    if isinstance(t, ast.Name):
        return t.id
    if isinstance(t, ast.Tuple) and len(t.elts) == 2 and isinstance(t.elts[1], ast.Name):
        return t.elts[1].id
    return None


def _unfrozen(stmt: ast.stmt) -> Optional[ast.expr]:
    """What the statement sets trainable: `x` of `x.requires_grad = True` / `x.requires_grad_(True)`."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and bool_literal(stmt.value) is True:
        t = stmt.targets[0]
        if isinstance(t, ast.Attribute) and t.attr == "requires_grad":
            return t.value
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if isinstance(call.func, ast.Attribute) and call.func.attr == "requires_grad_":
            flag = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "requires_grad"), None)
            if flag is None or bool_literal(flag) is True:
                return call.func.value
    return None


def _names(expr: ast.expr) -> Iterator[str]:
    for n in ast.walk(expr):
        if isinstance(n, ast.Attribute):
            yield n.attr
        elif isinstance(n, ast.Name) and n.id != "self":
            yield n.id


def _path(expr: ast.expr) -> str:
    """`x.vision_tower.layers[i]` -> `x.vision_tower.layers.[]`, `m.get_model().proj` -> `m.get_model.().proj`;
    `?` where the chain starts with something other than a name."""
    segs: List[str] = []
    while True:
        if isinstance(expr, ast.Attribute):
            segs.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            segs.append("[]")
            expr = expr.value
        elif isinstance(expr, ast.Call):
            segs.append("()")
            expr = expr.func
        else:
            segs.append(expr.id if isinstance(expr, ast.Name) else "?")
            return ".".join(reversed(segs))


def _tested_path(text: str) -> str:
    """A tested substring as a path: its pieces, an index for a number, `*` after the last (it may go on)."""
    pieces = ["[]" if p.isdigit() else p if p.isidentifier() else "?" for p in text.split(".")]
    return ".".join(pieces) + "*"


def _tested_strings(test: ast.expr, negated: bool = False) -> Iterator[str]:
    """The strings a test looks for in a name (`"model.vision_tower" in n`), not negated."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        yield from _tested_strings(test.operand, not negated)
    elif isinstance(test, ast.BoolOp):
        for v in test.values:
            yield from _tested_strings(v, negated)
    elif isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Constant):
        if isinstance(test.left.value, str) and isinstance(test.ops[0], ast.In) and not negated:
            yield test.left.value


def _tested_parts(test: ast.expr) -> Iterator[str]:
    """The dotted pieces of the strings a test looks for in a name (`"model.vision_tower" in n`), not negated."""
    for s in _tested_strings(test):
        yield from (p for p in s.split(".") if p.isidentifier())
