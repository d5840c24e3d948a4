from __future__ import annotations

from typing import Optional

import libcst as cst

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.facts import dotted_name
from freezelint.static.rules.flow_rule import FlowRule


_LOSS_WORDS = ("loss", "criterion")


def _root_name(expr: cst.CSTNode) -> Optional[str]:
    while isinstance(expr, (cst.Attribute, cst.Subscript)):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else None


class TrainingUnderNoGrad(FlowRule):
    """
    ## What it does
    Flags `backward()` on a value computed under `torch.no_grad()` or
    `torch.inference_mode()` (or a `no_grad`-decorated function): the loss
    was computed inside such a block, or the whole training forward ran in it.

    ## Why is this bad?
    Nothing computed under `no_grad` is recorded in the autograd graph. The
    `backward()` call raises "element 0 of tensors does not require grad" —
    or, once someone "fixes" that with `loss.requires_grad_()`, runs and
    trains nothing. (Calling `backward()` or `optimizer.step()` inside a
    `no_grad` block on a loss computed outside it is fine and not flagged.)

    ## Example
    ```python
    import torch
    import torch.nn as nn

    model = nn.Linear(8, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 8), torch.randn(4, 2)
    with torch.no_grad():
        loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    model = nn.Linear(8, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 8), torch.randn(4, 2)
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    ```
    """

    code = "FRZ103"
    name = "training-under-no-grad"
    summary = "`backward()` on a value computed under `no_grad`/`inference_mode`"
    severity = Severity.WARNING
    triggers = ("no_grad", "inference_mode", "set_grad_enabled(False")

    def check(self, tl: flow.Timeline) -> None:
        for b in tl.of(flow.BACKWARD):
            if b.via is not None or b.value is None:
                continue
            value = b.value
            name = _root_name(value)
            if name is not None and name != "self":
                assigned = tl.assigned.get(name)
                if not assigned:
                    continue
                if all(assigned):
                    where = f"`{name}` is computed under `torch.no_grad()`/`inference_mode()`"
                elif not any(assigned) and self._derived_from_no_grad(tl, name):
                    where = f"`{name}` is computed only from values produced under `torch.no_grad()`/`inference_mode()`"
                else:
                    continue
            elif name is None and b.grad in flow.NO_GRAD_MODES:
                where = f"`{self.code_of(value)}` is computed inside a `torch.{b.grad}()` block"
            else:
                continue
            self.report_at(
                b,
                f"{where}, so it has no autograd graph: `{self.code_of(b.node)}` raises, or trains nothing once "
                f"patched with `requires_grad_()`; "
                f"compute the training forward and loss outside the `no_grad` block (keep only fixed parts, "
                f"such as a teacher or frozen encoder, inside it)",
            )

    def _derived_from_no_grad(self, tl: flow.Timeline, name: str) -> bool:
        """Every binding of `name` is an expression over no-grad values only (one step back)."""
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        bindings = scope.bindings.get(name) or []
        if not bindings or any(b.expr is None or b.iterate or b.path for b in bindings):
            return False
        return all(self._over_no_grad(tl, scope, b.expr) for b in bindings)

    def _over_no_grad(self, tl: flow.Timeline, scope, expr: cst.CSTNode) -> bool:
        tainted = []
        ok = [True]
        facts = self.facts

        class _V(cst.CSTVisitor):
            def visit_Call(self, call: cst.Call) -> bool:
                func = call.func
                qual = facts.qualified(func, scope)
                last = (dotted_name(func) or "").rsplit(".", 1)[-1].lower()
                if qual is not None or any(w in last for w in _LOSS_WORDS):
                    for a in call.args:
                        a.value.visit(self)
                    return False
                if isinstance(func, cst.Attribute):  # a method of a value: look at the value
                    func.value.visit(self)
                    for a in call.args:
                        a.value.visit(self)
                    return False
                ok[0] = False  # some other callable: could be a training forward
                return False

            def visit_Attribute(self, node: cst.Attribute) -> bool:
                node.value.visit(self)
                return False

            def visit_Lambda(self, node) -> bool:
                ok[0] = False
                return False

            def visit_Name(self, node: cst.Name) -> None:
                n = node.value
                if n in ("True", "False", "None"):
                    return
                assigned = tl.assigned.get(n)
                if assigned is not None:
                    if all(assigned):
                        tainted.append(n)
                    else:
                        ok[0] = False
                    return
                if any(p[0] == n for p in scope.params):
                    ok[0] = False  # a parameter may carry a graph
                    return
                local = scope.bindings.get(n)
                if local and all(b.iterate for b in local):
                    return  # a loop variable: data from a loader
                if facts.qualified(node, scope) is None:
                    ok[0] = False

        expr.visit(_V())
        return ok[0] and bool(tainted)
