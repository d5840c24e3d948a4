from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import grad_state
from freezelint.static.rules.flow_rule import FlowRule


class ZeroGradKeepsFrozenMoving(FlowRule):
    """
    ## What it does
    Flags `zero_grad(set_to_none=False)` in code that freezes, after they
    already received gradients, parameters that an optimizer holds. On a
    project whose torch requirement is older than 2.0 (read from
    pyproject.toml, setup.cfg, setup.py, requirements files or conda
    environment files; `target-torch-version` in the config overrides it), a
    plain `zero_grad()` is flagged too: `set_to_none=False` was its default.

    ## Why is this bad?
    `set_to_none=False` leaves a zero tensor in `.grad` instead of `None`.
    Optimizers skip parameters whose grad is `None`, but a zero grad is a
    grad: SGD momentum, Adam's moving averages and (decoupled) weight decay
    keep updating the "frozen" parameters on every step.

    At run time: FRZ501 (a frozen parameter has a gradient at the step) and
    FRZ502 (it moved).

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
    triggers = ("set_to_none=False", "zero_grad(False", "zero_grad")

    def check(self, tl: flow.Timeline) -> None:
        zeros = [z for z in tl.of(flow.ZERO_GRAD) if grad_state.zero_fills(z, self.facts.project)]
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
            if z.mode is False:
                fixed = call.replace("set_to_none=False", "set_to_none=True").replace("zero_grad(False", "zero_grad(True")
                why, default = "", " (the default)"
            else:
                fixed = call[:-1] + "set_to_none=True)" if call.endswith("()") else "zero_grad(set_to_none=True)"
                why, default = " (`set_to_none=False` is its default before torch 2.0, which this project targets)", ""
            self.report_at(
                z,
                f"`{call}` leaves zero grads on `{frozen.target}`{why}, which is frozen here after it had gradients: "
                f"momentum and weight decay keep updating it; write `{fixed}`{default}",
            )
