from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.rules.flow_rule import FlowRule


class OptimizerBeforeFreeze(FlowRule):
    """
    ## What it does
    Flags parameters frozen after an optimizer was built over them, when the
    optimizer is not rebuilt afterwards in the same function. It is reported
    as an error when the same code also calls `zero_grad(set_to_none=False)`
    or freezes between `backward()` and `step()`.

    ## Why is this bad?
    The optimizer keeps holding the "frozen" parameters. Any gradient they
    still have (a freeze between `backward()` and `step()`, or zero-filled
    grads from `zero_grad(set_to_none=False)`) lets momentum and weight decay
    keep moving them, and their optimizer state stays allocated. Freezing is
    a statement about what the optimizer should own, so it belongs before the
    optimizer is built.

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet18()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for param in model.layer1.parameters():
        param.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet18()
    for param in model.layer1.parameters():
        param.requires_grad = False
    optimizer = torch.optim.SGD(
        (p for p in model.parameters() if p.requires_grad), lr=0.1, momentum=0.9
    )
    ```
    """

    code = "FRZ201"
    name = "optimizer-before-freeze"
    summary = "parameters frozen after an optimizer was built over them"
    severity = Severity.WARNING
    triggers = ("requires_grad", "freeze")

    def check(self, tl: flow.Timeline) -> None:
        opts = tl.of(flow.OPT)
        if not opts:
            return
        zero_fill = any(z.mode is False for z in tl.of(flow.ZERO_GRAD))
        for f in tl.of(flow.FREEZE):
            if f.target is None:
                continue
            holders = [
                o for o in tl.before(f, flow.OPT)
                if any(how in (flow.ALL, flow.FILTER) and flow.overlap(t, f.target) for t, how in o.over)
            ]
            if not holders or tl.after(f, flow.OPT):
                continue
            o = holders[-1]
            between = any(
                b.loops == f.loops and any(s.loops == f.loops for s in tl.after(f, flow.STEP))
                for b in tl.before(f, flow.BACKWARD)
            )
            had_grads = any(b.index < f.index or (set(b.loops) & set(f.loops)) for b in tl.of(flow.BACKWARD))
            opt = o.name or "the optimizer"
            target = f.target
            why = []
            if zero_fill and had_grads:
                why.append("`zero_grad(set_to_none=False)` keeps zero-filled grads on them")
            if between:
                why.append("the freeze comes between `backward()` and `step()`, so their grads are still applied")
            detail = ("; " + " and ".join(why)) if why else ""
            self.report_at(
                f,
                f"`{target}` is frozen{flow.describe(f)} after `{opt}` was built over its parameters "
                f"({self.code_of(o.node)}), so `{opt}` still holds and can move them{detail}; "
                f"freeze first, then build the optimizer over `filter(lambda p: p.requires_grad, ...)`",
                severity=Severity.ERROR if why else None,
            )
