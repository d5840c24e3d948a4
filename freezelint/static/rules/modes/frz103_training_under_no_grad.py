from __future__ import annotations

import ast
from typing import Optional

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import dotted_name
from freezelint.static.rules.flow_rule import FlowRule


_LOSS_WORDS = ("loss", "criterion")


def _root_name(expr: ast.expr) -> Optional[str]:
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


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

    def _over_no_grad(self, tl: flow.Timeline, scope, expr: ast.expr) -> bool:
        """`expr` reads at least one name assigned only under no_grad, and nothing that may carry a graph."""
        tainted = False
        facts = self.facts
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Call):
                func = node.func
                qual = facts.qualified(func, scope)
                last = (dotted_name(func) or "").rsplit(".", 1)[-1].lower()
                args = list(node.args) + [k.value for k in node.keywords]
                if qual is not None or any(w in last for w in _LOSS_WORDS):
                    stack.extend(args)
                elif isinstance(func, ast.Attribute):  # a method of a value: look at the value
                    stack.append(func.value)
                    stack.extend(args)
                else:
                    return False  # some other callable: could be a training forward
            elif isinstance(node, ast.Attribute):
                stack.append(node.value)
            elif isinstance(node, ast.Lambda):
                return False
            elif isinstance(node, ast.Name):
                n = node.id
                assigned = tl.assigned.get(n)
                if assigned is not None:
                    if not all(assigned):
                        return False
                    tainted = True
                elif any(p[0] == n for p in scope.params):
                    return False  # a parameter may carry a graph
                elif (local := scope.bindings.get(n)) and all(b.iterate for b in local):
                    continue  # a loop variable: data from a loader
                elif facts.qualified(node, scope) is None:
                    return False
            else:
                stack.extend(ast.iter_child_nodes(node))
        return tainted
