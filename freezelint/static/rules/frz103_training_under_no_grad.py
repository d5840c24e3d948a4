from __future__ import annotations

from typing import Optional

import libcst as cst

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.rules.flow_rule import FlowRule


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
                if not assigned or not all(assigned):
                    continue
                where = f"`{name}` is computed under `torch.no_grad()`/`inference_mode()`"
            elif name is None and b.grad in flow.NO_GRAD_MODES:
                where = f"`{self.code_of(value)}` is computed inside a `{b.grad}` block"
            else:
                continue
            self.report_at(
                b,
                f"{where}, so it has no autograd graph and `{self.code_of(b.node)}` trains nothing; "
                f"compute the training forward and loss outside the `no_grad` block (keep only fixed parts, "
                f"such as a teacher or frozen encoder, inside it)",
            )
