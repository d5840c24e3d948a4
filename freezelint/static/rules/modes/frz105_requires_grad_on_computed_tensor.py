from __future__ import annotations

import ast
from typing import Optional

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.parse.astutil import bool_literal, dotted_name
from freezelint.static.rules.base import Rule

_REDUCTIONS = frozenset({"sum", "mean", "norm", "pow", "exp", "log", "abs", "square", "sqrt", "max", "min", "prod"})
_LEAF_MARKERS = (
    ".detach(", ".clone(", "torch.tensor(", "torch.zeros", "torch.ones", "torch.rand", "torch.empty", "torch.full",
    "torch.arange", "torch.linspace", "torch.as_tensor", "torch.from_numpy", "Variable(", "Parameter(", ".new_", ".data",
)


class RequiresGradOnComputedTensor(Rule):
    """
    ## What it does
    Flags `loss.requires_grad = True` and `loss.requires_grad_()` on the
    result of a computation (a model or loss-function output, an arithmetic
    expression, or a reduction such as `.sum()`) that `backward()` is then
    called on, or that is named as a loss. Input or activation gradients for
    saliency, where `backward()` runs on something downstream, are left alone.

    ## Why is this bad?
    A computed tensor that does not require grad is cut from the graph
    upstream — everything it depends on is frozen, detached or computed
    under `no_grad`. Setting the flag makes the "does not require grad" error
    go away and `backward()` runs, but it stops at this tensor: no parameter
    gets a gradient and the model does not learn.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    model = nn.Linear(8, 2)
    x, y = torch.randn(4, 8), torch.randn(4, 2)
    with torch.no_grad():
        out = model(x)
    loss = nn.functional.mse_loss(out, y)
    loss.requires_grad = True
    loss.backward()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    model = nn.Linear(8, 2)
    x, y = torch.randn(4, 8), torch.randn(4, 2)
    out = model(x)
    loss = nn.functional.mse_loss(out, y)
    loss.backward()
    ```
    """

    code = "FRZ105"
    name = "requires-grad-on-computed-tensor"
    summary = "`requires_grad` set on a computed tensor papers over a cut graph"
    severity = Severity.WARNING
    triggers = ("requires_grad = True", "requires_grad=True", "requires_grad_()", "requires_grad_(True")

    def visit_Assign(self, node: ast.Assign) -> None:
        if bool_literal(node.value) is not True:
            return
        for tgt in node.targets:
            if isinstance(tgt, ast.Attribute) and tgt.attr == "requires_grad":
                self._check(tgt.value, tgt, f"{self.ctx.code(tgt.value)}.requires_grad = True")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "requires_grad_"):
            return
        first = node.args[0] if node.args else node.keywords[0].value if node.keywords else None
        if first is not None and bool_literal(first) is not True:
            return
        self._check(func.value, node, self.ctx.code(node))

    def _check(self, recv: ast.expr, node: ast.AST, written: str) -> None:
        if not isinstance(recv, ast.Name):
            return
        what = self._computed_name(recv.id, 0)
        if what is None:
            return
        if "loss" not in recv.id.lower() and not self._backward_on(recv.id):
            return  # e.g. input or activation gradients for saliency: backward runs on something else
        self.report(
            node,
            f"`{recv.id}` is {what}: `{written}` does not reconnect it to the model, so `backward()` runs "
            f"but no parameter gets a gradient; remove it and find where the graph is cut "
            f"(a freeze, `torch.no_grad()` or `.detach()` upstream)",
        )

    def _backward_on(self, name: str) -> bool:
        """`name.backward()` (or `accelerator.backward(name)`) in the current function."""
        tl = flow_file.timeline(self.facts, self.ctx.scope.node)
        return any(isinstance(b.value, ast.Name) and b.value.id == name for b in tl.of(flow.BACKWARD))

    def _computed_name(self, name: str, depth: int) -> Optional[str]:
        bindings = self.facts.lookup(name, self.ctx.scope)
        if not bindings or depth > 2:
            return None
        whats = []
        for b in bindings:
            if b.expr is None or b.iterate or b.path or b.scope is not self.ctx.scope:
                return None
            what = self._computed(b.expr, depth)
            if what is None:
                return None
            whats.append(what)
        return whats[0]

    def _computed(self, expr: ast.expr, depth: int) -> Optional[str]:
        code = self.ctx.code(expr)
        if any(m in code for m in _LEAF_MARKERS):
            return None
        if isinstance(expr, ast.BinOp):
            for side in (expr.left, expr.right):
                if isinstance(side, (ast.Call, ast.BinOp)) and self._computed(side, depth) is not None:
                    return "computed by an expression over other tensors"
                if isinstance(side, ast.Name) and self._computed_name(side.id, depth + 1) is not None:
                    return "computed by an expression over other tensors"
            return None
        if isinstance(expr, (ast.Attribute, ast.Subscript)) and isinstance(expr.value, (ast.Name, ast.Call)):
            base = expr.value
            if isinstance(base, ast.Call):
                return self._computed(base, depth)
            inner = self._computed_name(base.id, depth + 1)
            return "taken from a model or loss output" if inner else None
        if not isinstance(expr, ast.Call):
            return None
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in _REDUCTIONS:
            return f"the result of `.{func.attr}()`"
        qual = self.ctx.qualified(func) or ""
        last = (qual or dotted_name(func) or "").rsplit(".", 1)[-1].lower()
        if qual.startswith("torch.nn.functional.") or "loss" in last or "criterion" in last:
            return "the output of a loss function"
        if self.ctx.is_module(func):
            return "a model output"
        return None
