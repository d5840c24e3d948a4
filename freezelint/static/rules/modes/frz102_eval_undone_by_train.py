from __future__ import annotations

import ast

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.rules import wording
from freezelint.static.rules.flow_rule import FlowRule


class EvalUndoneByTrain(FlowRule):
    """
    ## What it does
    Flags a `.train()` call on a module after one of its submodules was put
    in eval mode (to keep BatchNorm statistics or dropout fixed), when the
    submodule is not put back in eval mode after that `train()`, the class
    does not override `train()`, and the submodule's `train` is not replaced
    by a no-op (`vae.train = disabled_train`).

    ## Why is this bad?
    `train()` is recursive: it switches every submodule back to training
    mode. BatchNorm layers meant to stay fixed start updating their running
    statistics again (and use batch statistics), typically from the second
    epoch on when `model.train()` sits at the top of the epoch loop.

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights="DEFAULT")
    model.layer1.requires_grad_(False)
    model.layer1.eval()
    for epoch in range(10):
        model.train()
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights="DEFAULT")
    model.layer1.requires_grad_(False)
    for epoch in range(10):
        model.train()
        model.layer1.eval()
    ```
    """

    code = "FRZ102"
    name = "eval-undone-by-train"
    summary = "a submodule's eval mode is switched back by a later `train()` on an ancestor"
    severity = Severity.WARNING
    triggers = ("eval(", "train(False", "train(mode=False")

    def check(self, tl: flow.Timeline) -> None:
        if (tl.func_name or "") == "train" and getattr(self.facts.scope_of.get(id(tl.node)), "class_name", None):
            return  # a `train()` override: what it switches is its own business
        evals = tl.of(flow.EVAL)
        if not evals:
            return
        replaced = flow_file.train_replaced_paths(self.flow)
        for t in tl.of(flow.TRAIN):
            if t.mode is False or t.target is None:
                continue
            if self._overrides_train(t):
                continue
            for e in tl.before(t, flow.EVAL):
                sub = e.target
                if not flow.strictly_inside(sub, t.target):
                    continue
                if any(flow.overlap(sub, r) for r in replaced):
                    continue  # its train() was replaced by a no-op: it stays in eval mode
                if any(
                    flow.inside(sub, r.target) and flow.strictly_inside(r.target, t.target)
                    for r in tl.after(t, flow.EVAL)
                ):
                    continue  # re-applied after train()
                code = self.code_of(t.node)
                py = wording.python_path(sub)
                if py is not None:
                    who, again = f"`{py}`", f"re-apply `{py}.eval()`"
                elif e.via is not None:  # `freeze_bn(model)`: the call puts them in eval mode
                    who, again = f"the modules `{self.code_of(e.node)}` puts in eval mode", f"call `{self.code_of(e.node)}` again"
                else:
                    who = wording.subject(tl, e, self.facts)
                    again = f"re-run the loop around `{self.code_of(e.node)}`" if e.loops else "put them in eval mode again"
                self.report_at(
                    t,
                    f"`{code}` switches {who} back to training mode after `{self.code_of(e.node)}`"
                    f"{flow.describe(e)}; {again} after every `{code}`, "
                    f"or override `train()` in the model to keep it in eval mode",
                )
                break

    def _overrides_train(self, t: flow.Event) -> bool:
        if t.via is not None:
            return flow.any_class_overrides_train(self.facts)
        call = t.node
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            return True
        k = self.ctx.kind_of(call.func.value)
        if k.is_module() and isinstance(k.detail, str) and self.facts.classes.get(k.detail):
            return flow.class_overrides_train(self.facts, k.detail)
        return flow.any_class_overrides_train(self.facts)
