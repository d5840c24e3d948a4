from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.rules.flow_rule import FlowRule


class UnfreezeNotInOptimizer(FlowRule):
    """
    ## What it does
    Flags parameters unfrozen after the optimizer was built from a
    `requires_grad` filter (or from an explicit subset of the model that
    does not include them), with no `add_param_group` and no rebuild.

    ## Why is this bad?
    The optimizer only updates the parameters it was given. The unfrozen
    parameters now get gradients (costing memory and time) but never change:
    gradual unfreezing silently does nothing.

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    for epoch in range(10):
        if epoch == 5:
            model.layer4.requires_grad_(True)
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    for epoch in range(10):
        if epoch == 5:
            model.layer4.requires_grad_(True)
            optimizer.add_param_group({"params": model.layer4.parameters(), "lr": 0.001})
    ```
    """

    code = "FRZ203"
    checks_lifecycles = True
    name = "unfreeze-not-in-optimizer"
    summary = "parameters unfrozen after the optimizer was built without them"
    severity = Severity.WARNING
    triggers = ("requires_grad", "unfreeze", "make_trainable")

    def check(self, tl: flow.Timeline) -> None:
        opts = tl.of(flow.OPT)
        if not opts or tl.of(flow.ADD_GROUP):
            return
        for u in tl.of(flow.UNFREEZE):
            target = u.target
            if target is None:
                continue
            before = [o for o in tl.before(u, flow.OPT) if o.over and all(t for t, _ in o.over)]
            if not before or tl.after(u, flow.OPT):
                continue
            if any(
                (how == flow.ALL and flow.inside(target, t)) or (how == flow.SUBSET and flow.overlap(t, target))
                for o in before
                for t, how in o.over
            ):
                continue  # some optimizer holds them (or may)
            evidence = None
            for o in before:
                filtered = any(how == flow.FILTER and flow.overlap(t, target) for t, how in o.over)
                if filtered and any(flow.overlap(f.target, target) for f in tl.before(o, flow.FREEZE)):
                    evidence = (o, "was built from a `requires_grad` filter while they were frozen")
                elif not filtered and all(flow.root(t) == flow.root(target) for t, _ in o.over):
                    evidence = (o, "was built over " + ", ".join(f"`{t}`" for t, _ in o.over) + " only")
            if evidence is None:
                continue
            o, why = evidence
            opt = o.name or "the optimizer"
            self.report_at(
                u,
                f"`{target}` is unfrozen{flow.describe(u)} but `{opt}` {why}: they get gradients and never change; "
                f"add them with `{opt}.add_param_group({{'params': {target}.parameters()}})` or rebuild the optimizer",
            )
