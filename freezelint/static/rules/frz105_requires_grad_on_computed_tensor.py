from __future__ import annotations

from typing import Optional

import libcst as cst

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.facts import dotted_name
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

    def visit_Assign(self, node: cst.Assign) -> None:
        if not (isinstance(node.value, cst.Name) and node.value.value == "True"):
            return
        for t in node.targets:
            tgt = t.target
            if isinstance(tgt, cst.Attribute) and tgt.attr.value == "requires_grad":
                self._check(tgt.value, tgt, f"{self.ctx.code(tgt.value)}.requires_grad = True")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_"):
            return
        if node.args and not (isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "True"):
            return
        self._check(func.value, node, self.ctx.code(node))

    def _check(self, recv: cst.CSTNode, node: cst.CSTNode, written: str) -> None:
        if not isinstance(recv, cst.Name):
            return
        what = self._computed_name(recv.value, 0)
        if what is None:
            return
        if "loss" not in recv.value.lower() and not self._backward_on(recv.value):
            return  # e.g. input or activation gradients for saliency: backward runs on something else
        self.report(
            node,
            f"`{recv.value}` is {what}: `{written}` does not reconnect it to the model, so `backward()` runs "
            f"but no parameter gets a gradient; remove it and find where the graph is cut "
            f"(a freeze, `torch.no_grad()` or `.detach()` upstream)",
        )

    def _backward_on(self, name: str) -> bool:
        """`name.backward()` (or `accelerator.backward(name)`) in the current function."""
        tl = flow.timeline(self.facts, self.ctx.scope.node)
        return any(isinstance(b.value, cst.Name) and b.value.value == name for b in tl.of(flow.BACKWARD))

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

    def _computed(self, expr: cst.CSTNode, depth: int) -> Optional[str]:
        code = self.ctx.code(expr)
        if any(m in code for m in _LEAF_MARKERS):
            return None
        if isinstance(expr, cst.BinaryOperation):
            for side in (expr.left, expr.right):
                if isinstance(side, (cst.Call, cst.BinaryOperation)) and self._computed(side, depth) is not None:
                    return "computed by an expression over other tensors"
                if isinstance(side, cst.Name) and self._computed_name(side.value, depth + 1) is not None:
                    return "computed by an expression over other tensors"
            return None
        if isinstance(expr, (cst.Attribute, cst.Subscript)) and isinstance(expr.value, (cst.Name, cst.Call)):
            base = expr.value
            if isinstance(base, cst.Call):
                return self._computed(base, depth)
            inner = self._computed_name(base.value, depth + 1)
            return "taken from a model or loss output" if inner else None
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in _REDUCTIONS:
            return f"the result of `.{func.attr.value}()`"
        qual = self.ctx.qualified(func) or ""
        last = (qual or dotted_name(func) or "").rsplit(".", 1)[-1].lower()
        if qual.startswith("torch.nn.functional.") or "loss" in last or "criterion" in last:
            return "the output of a loss function"
        if self.ctx.is_module(func):
            return "a model output"
        return None
