"""`model.apply(fn)` on a `flow` timeline: `fn` runs on every module below `model` (itself included), so
what `fn` does to its parameter lands on `model.*`.

`ApplyEvents` is a mixin of `flow_events.Builder` (beside `flow_calls.CallEvents`, which asks it at an
`apply` call): a function of this file (nested ones too) is spliced through `_splice` with its parameter
bound to `model.*`, another file's by its summary, and a lambda by its one call on its parameter
(`lambda m: m.eval() if isinstance(m, nn.BatchNorm2d) else None`). Only freezes and mode switches count:
an init function's forwards and calls mean nothing at the call site. Which modules `fn` selects is
`module_filters.selection`'s question, asked by the rules.
"""

from __future__ import annotations

import ast

from freezelint.static.parse.astutil import arg, bool_literal
from freezelint.static.flow.timeline import EVAL, FREEZE, TRAIN, UNFREEZE


class ApplyEvents:
    """Mixin: needs `facts`, `scope`, `follow`, `tl`, `path_of`, `add`, `_splice`, `_summary_event` on the Builder."""

    def _apply(self, node: ast.Call, recv: ast.expr, fn: ast.expr) -> bool:
        """`model.apply(fn)` runs `fn` on every module below `model` (itself included): what `fn` does to
        its parameter lands on `model.*` (this file's function, nested ones too, or another file's by its
        summary); only freezes and mode switches count (an init function's forwards do not)."""
        path = self.path_of(recv)
        if not path or not self.follow or not isinstance(fn, (ast.Name, ast.Lambda)):
            return False
        if self.facts.kind_of(recv, self.scope).tag in ("other", "tensor", "optimizer", "ref"):
            return False
        below = path + ".*"
        if isinstance(fn, ast.Lambda):
            return self._apply_lambda(node, fn, below)
        defs = self.facts.functions.get(fn.id)
        if defs:
            scope = self.facts.scope_of.get(id(defs[0]))
            if len(defs) != 1 or defs[0] is self.tl.node or scope is None or scope.class_name is not None or not scope.params:
                return False
            self._splice(node, defs[0], scope, {scope.params[0][0]: below}, apply=True)
            return True
        qual = self.facts.qualified(fn, self.scope) or fn.id
        effects = [(sub, kind) for index, sub, kind in self.facts.project.function_effects(qual) if index == 0]
        for sub, kind in effects:
            self._summary_event(node, below, sub, kind, fn.id)
        return bool(effects)

    def _apply_lambda(self, node: ast.Call, fn: ast.Lambda, below: str) -> bool:
        """`model.apply(lambda m: m.eval() if isinstance(m, nn.BatchNorm2d) else None)`: its one call on `m`."""
        params = fn.args.posonlyargs + fn.args.args
        body, conditional = fn.body, False
        if isinstance(body, ast.IfExp) and isinstance(body.orelse, ast.Constant) and body.orelse.value is None:
            body, conditional = body.body, True
        if len(params) != 1 or not (isinstance(body, ast.Call) and isinstance(body.func, ast.Attribute)):
            return False
        if not (isinstance(body.func.value, ast.Name) and body.func.value.id == params[0].arg):
            return False
        m = body.func.attr
        a = arg(body, 0, "requires_grad" if m == "requires_grad_" else "mode")
        flag = True if a is None else bool_literal(a)
        if m == "eval" and not body.args:
            kind = EVAL
        elif m == "train" and flag is not None:
            kind = TRAIN if flag else EVAL
        elif m == "requires_grad_" and flag is not None:
            kind = UNFREEZE if flag else FREEZE
        else:
            return False
        ev = self.add(kind, node, target=below, mode=True if kind == TRAIN else None, via="<lambda>")
        if conditional:
            ev.branches = ev.branches + ((id(fn), id(fn)),)
        return True
