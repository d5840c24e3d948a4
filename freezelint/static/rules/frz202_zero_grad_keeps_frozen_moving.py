from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.rules.flow_rule import FlowRule


class ZeroGradKeepsFrozenMoving(FlowRule):
    """
    ## What it does
    Flags `zero_grad(set_to_none=False)` in code that freezes, after they
    already received gradients, parameters that an optimizer holds.

    ## Why is this bad?
    `set_to_none=False` leaves a zero tensor in `.grad` instead of `None`.
    Optimizers skip parameters whose grad is `None`, but a zero grad is a
    grad: SGD momentum, Adam's moving averages and (decoupled) weight decay
    keep updating the "frozen" parameters on every step.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), weight_decay=0.01)
    for epoch in range(10):
        if epoch == 5:
            model[0].requires_grad_(False)
        loss = model(torch.randn(4, 8)).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), weight_decay=0.01)
    for epoch in range(10):
        if epoch == 5:
            model[0].requires_grad_(False)
        loss = model(torch.randn(4, 8)).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    ```
    """

    code = "FRZ202"
    name = "zero-grad-keeps-frozen-moving"
    summary = "`zero_grad(set_to_none=False)` keeps frozen parameters moving"
    severity = Severity.WARNING
    triggers = ("set_to_none=False", "zero_grad(False")

    def check(self, tl: flow.Timeline) -> None:
        zeros = [z for z in tl.of(flow.ZERO_GRAD) if z.mode is False]
        if not zeros:
            return
        frozen = None
        backwards = tl.of(flow.BACKWARD)
        for f in tl.of(flow.FREEZE):
            if f.target is None:
                continue
            had_grads = any(b.index < f.index or (set(b.loops) & set(f.loops)) for b in backwards)
            if not had_grads:
                continue
            for o in tl.of(flow.OPT):
                for t, how in o.over:
                    if (o.index < f.index and how != flow.SUBSET and flow.overlap(t, f.target)) or (
                        o.index > f.index and how == flow.ALL and flow.inside(f.target, t)
                    ):
                        frozen = f
                        break
                if frozen:
                    break
            if frozen:
                break
        if frozen is None:
            return
        for z in zeros:
            call = self.code_of(z.node)
            fixed = call.replace("set_to_none=False", "set_to_none=True").replace("zero_grad(False", "zero_grad(True")
            self.report_at(
                z,
                f"`{call}` leaves zero grads on `{frozen.target}`, which is frozen here after it had gradients: "
                f"momentum and weight decay keep updating it; write `{fixed}` (the default)",
            )
