from __future__ import annotations

import ast
import re
from typing import Iterator, Optional

from freezelint.findings import Severity
from freezelint.static.parse.astutil import dotted_name
from freezelint.static.rules.base import Rule

# names that hold "how many layers" (a count), not "which layer"
_COUNT_NAME = re.compile(
    r"^(?:num|n)_?(?:frozen|freeze|trainable|train|unfrozen|unfreeze)?_?(?:layers?|blocks?|stages?)"
    r"(?:_to_(?:freeze|train|unfreeze))?$"
    r"|^(?:freeze|frozen|unfreeze|trainable)_(?:layers?|blocks?|stages?|num|count|depth)$"
    r"|^(?:num|n)_(?:frozen|freeze|unfreeze|trainable)$",
    re.I,
)


def _requires_grad_writes(body) -> bool:
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Attribute) and node.attr in ("requires_grad", "requires_grad_"):
                return True
    return False


def _negated_name(node: Optional[ast.expr]) -> Optional[str]:
    """`n` / `self.n` / `args.n` for `-n`, else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return dotted_name(node.operand)
    return None


def _names_in(node: ast.AST) -> Iterator[str]:
    for n in ast.walk(node):
        if isinstance(n, (ast.Name, ast.Attribute)):
            d = dotted_name(n)
            if d:
                yield d


class WrongLayerSlice(Rule):
    """
    ## What it does
    Flags layer selections for freezing or unfreezing that select other
    layers than they say:

    - `layers[-n:]` / `layers[:-n]` where `n` can be 0 (a parameter whose
      default is 0, with no `if n` around it): `layers[-0:]` is every layer
      and `layers[:-0]` is none;
    - a freeze count used as an index: `layers[num_frozen_layers]` (one
      layer) where `layers[:num_frozen_layers]` (the first ones) is meant;
    - a guard that can never be true inside the loop over the layers:
      `for i, layer in enumerate(layers): if i >= len(layers): ...`.

    ## Why is this bad?
    The code runs without an error, and the wrong set of layers trains: with
    `n = 0` ("unfreeze nothing") the whole model is unfrozen, an index
    freezes one layer instead of the first k, a guard that never holds
    leaves everything as it was.

    At run time: FRZ504 (declared frozen, still trainable) and FRZ510 (a
    selector that matches nothing).

    ## Example
    ```python
    def unfreeze_top(model, n_trainable=0):
        for block in model.blocks[-n_trainable:]:
            block.requires_grad_(True)
    ```

    ## Use instead
    ```python
    def unfreeze_top(model, n_trainable=0):
        if n_trainable > 0:
            for block in model.blocks[-n_trainable:]:
                block.requires_grad_(True)
    ```
    """

    code = "FRZ302"
    name = "wrong-layer-slice"
    summary = "a layer slice, index or guard that selects other layers than it says"
    severity = Severity.WARNING
    triggers = ("requires_grad",)

    def __init__(self, ctx):
        super().__init__(ctx)
        self._funcs = []  # enclosing function defs
        self._ifs = []  # enclosing if tests

    def visit_FunctionDef(self, node) -> None:
        self._funcs.append(node)

    def leave_FunctionDef(self, node) -> None:
        self._funcs.pop()

    visit_AsyncFunctionDef, leave_AsyncFunctionDef = visit_FunctionDef, leave_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        self._ifs.append(node.test)

    def leave_If(self, node: ast.If) -> None:
        self._ifs.pop()

    def visit_For(self, node: ast.For) -> None:
        if not _requires_grad_writes(node.body):
            return
        for sub in ast.walk(node.iter):
            if isinstance(sub, ast.Subscript):
                self._check_subscript(sub)
        self._check_guards(node)

    def visit_Call(self, node: ast.Call) -> None:
        # `model.blocks[k].requires_grad_(False)` / `model.blocks[-n:].requires_grad_(True)`
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "requires_grad_":
            for sub in ast.walk(f.value):
                if isinstance(sub, ast.Subscript):
                    self._check_subscript(sub)

    # -- the three shapes
    def _check_subscript(self, sub: ast.Subscript) -> None:
        s = sub.slice
        if isinstance(s, ast.Slice):
            for bound, side in ((s.lower, "lower"), (s.upper, "upper")):
                name = _negated_name(bound)
                if name and self._can_be_zero(name) and not self._guarded(name):
                    seq = self.ctx.code(sub.value)
                    if side == "lower":
                        meaning, fixed = f"every element (`{seq}[-0:]` is all of `{seq}`)", f"{seq}[len({seq}) - {name}:]"
                    else:
                        meaning, fixed = f"nothing (`{seq}[:-0]` is empty)", f"{seq}[:len({seq}) - {name}]"
                    self.report(
                        sub,
                        f"`{self.ctx.code(sub)}` with `{name} == 0` (its default here) selects {meaning}; "
                        f"guard it with `if {name} > 0:` or write `{fixed}`",
                    )
        else:
            name = dotted_name(s) if isinstance(s, (ast.Name, ast.Attribute)) else None
            last = name.rsplit(".", 1)[-1] if name else ""
            if name and _COUNT_NAME.match(last) and not self._is_loop_var(name):
                seq = self.ctx.code(sub.value)
                self.report(
                    sub,
                    f"`{self.ctx.code(sub)}` is one layer, at position `{name}`; `{last}` reads as a count: "
                    f"for the first `{name}` layers write `{seq}[:{name}]`",
                )

    def _check_guards(self, loop: ast.For) -> None:
        it = loop.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "enumerate" and it.args):
            return
        if not (isinstance(loop.target, ast.Tuple) and loop.target.elts and isinstance(loop.target.elts[0], ast.Name)):
            return
        index, seq = loop.target.elts[0].id, self.ctx.code(it.args[0])
        for stmt in loop.body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.If) and self._never_true(node.test, index, seq) and _requires_grad_writes(node.body):
                    self.report(
                        node.test,
                        f"`{self.ctx.code(node.test)}` is never true in `for {index}, ... in enumerate({seq})` "
                        f"(`{index}` runs from 0 to `len({seq}) - 1`): the layers it should change stay as they were",
                    )

    # -- facts
    @staticmethod
    def _never_true(test: ast.expr, index: str, seq: str) -> bool:
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return False
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if not (isinstance(left, ast.Name) and left.id == index):
            return False
        if isinstance(op, ast.Lt) and isinstance(right, ast.Constant) and right.value == 0:
            return True
        is_len = (
            isinstance(right, ast.Call) and isinstance(right.func, ast.Name) and right.func.id == "len"
            and len(right.args) == 1 and ast.unparse(right.args[0]) == seq
        )
        return is_len and isinstance(op, (ast.GtE, ast.Gt, ast.Eq))

    def _can_be_zero(self, name: str) -> bool:
        """`name` is a parameter of the enclosing function whose default is 0."""
        if not self._funcs or "." in name:
            return False
        args = self._funcs[-1].args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
        return any(a.arg == name and isinstance(d, ast.Constant) and d.value == 0 for a, d in pairs)

    def _guarded(self, name: str) -> bool:
        if any(name in _names_in(t) for t in self._ifs):
            return True
        func = self._funcs[-1] if self._funcs else None
        if func is None:
            return False
        for node in ast.walk(func):  # `if not n: return`, `assert n > 0`, `n = max(n, 1)`
            if isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)) and name in _names_in(node.test):
                return True
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    return True
        return False

    def _is_loop_var(self, name: str) -> bool:
        func = self._funcs[-1] if self._funcs else self.ctx.module
        for node in ast.walk(func):
            if isinstance(node, (ast.For, ast.comprehension)) and name in _names_in(node.target):
                return True
        return False
