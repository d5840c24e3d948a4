from __future__ import annotations

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.rules.flow_rule import FlowRule


class FreezeAllAfterHeadReplaced(FlowRule):
    """
    ## What it does
    Flags a model whose head was replaced and then had every parameter
    frozen, with no re-enable of the new head afterwards.

    ## Why is this bad?
    The new head's parameters are among "every parameter": it is frozen too,
    so nothing trains. The loss stays flat, or `backward()` fails with
    "element 0 of tensors does not require grad".

    ## Example
    ```python
    import torch.nn as nn
    import torchvision

    model = torchvision.models.resnet18(weights="DEFAULT")
    model.fc = nn.Linear(model.fc.in_features, 10)
    for param in model.parameters():
        param.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torchvision

    model = torchvision.models.resnet18(weights="DEFAULT")
    for param in model.parameters():
        param.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 10)
    ```
    """

    code = "FRZ205"
    name = "freeze-all-after-head-replaced"
    summary = "every parameter frozen after the head was replaced: the new head is frozen too"
    severity = Severity.WARNING
    triggers = ("requires_grad", "freeze")

    def check(self, tl: flow.Timeline) -> None:
        for h in tl.of(flow.HEAD):
            for f in tl.after(h, flow.FREEZE):
                if not (f.whole and f.target and f.target != h.target and flow.inside(h.target, f.target)):
                    continue
                if any(flow.overlap(u.target, h.target) for u in tl.after(f, flow.UNFREEZE)):
                    break
                if any(flow.overlap(h2.target, h.target) for h2 in tl.between(h, f, flow.HEAD) if h2 is not h):
                    continue
                if any(flow.overlap(h2.target, h.target) for h2 in tl.after(f, flow.HEAD)):
                    break  # the head is replaced again after the freeze
                self.report_at(
                    f,
                    f"every parameter of `{f.target}` is frozen{flow.describe(f)} after its head `{h.target}` was "
                    f"replaced, so the new head is frozen too; freeze first and then replace the head, "
                    f"or re-enable it with `{h.target}.requires_grad_(True)`",
                )
                break
