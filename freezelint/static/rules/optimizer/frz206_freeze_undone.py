from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.rules.flow_rule import FlowRule


class FreezeUndone(FlowRule):
    """
    ## What it does
    Flags a freeze followed, in the same function and with no training in
    between, by a blanket `requires_grad = True` over every parameter of the
    same model (typically while collecting parameter groups).

    ## Why is this bad?
    The blanket re-enable undoes the freeze: the "frozen" parameters train.
    It usually hides in a loop that builds optimizer groups and sets
    `p.requires_grad = True` for every parameter it visits.

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet18()
    model.layer1.requires_grad_(False)
    groups = []
    for name, p in model.named_parameters():
        p.requires_grad = True
        groups.append({"params": [p], "weight_decay": 0.0 if "bn" in name else 1e-4})
    optimizer = torch.optim.SGD(groups, lr=0.1)
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet18()
    model.layer1.requires_grad_(False)
    groups = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        groups.append({"params": [p], "weight_decay": 0.0 if "bn" in name else 1e-4})
    optimizer = torch.optim.SGD(groups, lr=0.1)
    ```
    """

    code = "FRZ206"
    name = "freeze-undone"
    summary = "a freeze undone by a blanket `requires_grad = True` over the same model"
    severity = Severity.WARNING
    triggers = ("requires_grad", "unfreeze")

    def check(self, tl: flow.Timeline) -> None:
        for u in tl.of(flow.UNFREEZE):
            if not u.whole or u.target is None:
                continue
            for f in tl.before(u, flow.FREEZE):
                if f.target is None:
                    continue
                # a part of the model, or some of its parameters picked by name (`if "layer1" in name`)
                subset = f.target == u.target and not f.whole
                if not (flow.strictly_inside(f.target, u.target) or subset):
                    continue
                if not set(u.branches) <= set(f.branches):
                    continue  # a conditional re-enable (a schedule) is deliberate
                used = tl.between(f, u, flow.BACKWARD, flow.STEP, flow.RUN, flow.TRAIN, flow.FORWARD, flow.PASS)
                top = flow.root(f.target)
                if any(
                    e.kind in (flow.BACKWARD, flow.STEP, flow.RUN, flow.TRAIN)
                    or (e.kind == flow.FORWARD and flow.root(e.target or "") == top)
                    or (e.kind == flow.PASS and any(flow.root(n) == top for n in e.names))
                    for e in used
                ):
                    continue  # the model was used (trained) while frozen: a later phase
                what = (f"the parameters of `{f.target}` picked by name at line {f.node.lineno}" if subset
                        else f"`{f.target}`")
                self.report_at(
                    u,
                    f"this sets `requires_grad = True` on every parameter of `{u.target}`{flow.describe(u)}, undoing "
                    f"the freeze of {what} ({self.code_of(f.node)}); skip frozen parameters "
                    f"(`if not p.requires_grad: continue`) or re-enable only what should train",
                )
                break
