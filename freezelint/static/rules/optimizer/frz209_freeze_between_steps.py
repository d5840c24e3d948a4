from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import grad_state
from freezelint.static.rules.flow_rule import FlowRule


class FreezeBetweenSteps(FlowRule):
    """
    ## What it does
    Flags a freeze inside a training loop (a loop that runs `backward()` and
    an optimizer step) while the frozen parameters still hold this
    iteration's gradients: going round the loop from the freeze, a
    `backward()` comes before it with no `zero_grad()` in between, and a
    `step()` comes after it before the next `zero_grad()`. The optimizer was
    built before the loop over those parameters, and nothing in the function
    rebuilds it or clears their `.grad` or optimizer state.

    ## Why is this bad?
    `requires_grad_(False)` does not remove a gradient that is already there.
    The next `optimizer.step()` applies it (and updates momentum or Adam
    state for the "frozen" weights), so the weights move once more after the
    freeze, and stateful optimizers keep moving them while their momentum
    decays. The run is not reproducible against a run that froze earlier.

    At run time: FRZ501 (a frozen parameter has a gradient when `step()` runs)
    and FRZ502 (its bytes changed).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters())
    for step in range(100):
        optimizer.zero_grad()
        model(torch.randn(4, 8)).sum().backward()
        if step == 50:
            model[0].requires_grad_(False)
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters())
    for step in range(100):
        if step == 50:
            model[0].requires_grad_(False)
        optimizer.zero_grad()
        model(torch.randn(4, 8)).sum().backward()
        optimizer.step()
    ```
    """

    code = "FRZ209"
    name = "freeze-between-steps"
    summary = "parameters frozen between backward() and step() of a running loop keep their gradients"
    severity = Severity.ERROR
    triggers = ("requires_grad", "freeze")

    def check(self, tl: flow.Timeline) -> None:
        if not tl.of(flow.STEP) or not tl.of(flow.BACKWARD):
            return
        seen = set()
        for f in tl.of(flow.FREEZE):
            if f.target is None or id(f.node) in seen:
                continue
            loop = grad_state.running_loop(tl, f)
            if loop is None:
                continue
            holders = [
                o for o in tl.before(f, flow.OPT)
                if loop not in o.loops
                and any(how in (flow.ALL, flow.FILTER) and flow.overlap(t, f.target) for t, how in o.over)
            ]
            if not holders or any(loop in o.loops for o in tl.of(flow.OPT)) or tl.after(f, flow.OPT):
                continue
            o = holders[-1]
            if not grad_state.grads_applied_in_loop(tl, f, loop) or grad_state.clears_by_hand(tl, o.name):
                continue
            seen.add(id(f.node))
            opt = o.name or "the optimizer"
            self.report_at(
                f,
                f"`{f.target}` is frozen{flow.describe(f)} after `backward()` and before `{opt}.step()`: its "
                f"gradients from this iteration are still there, so the step moves it once more (and updates its "
                f"momentum/Adam state); freeze before the backward (or before `zero_grad()`), or set its `.grad` to None",
            )
