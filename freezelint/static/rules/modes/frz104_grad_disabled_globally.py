from __future__ import annotations

import ast

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.rules.flow_rule import FlowRule


class GradDisabledGlobally(FlowRule):
    """
    ## What it does
    Flags `torch.set_grad_enabled(False)` written as a statement (a global
    switch, not a `with` block) in a function that later calls `backward()`,
    and at module level in a file that trains or is meant to be imported
    (a notebook is run, never imported: only its own training counts).

    ## Why is this bad?
    As a statement it turns autograd off for the rest of the thread: every
    later forward pass records nothing, so training code that follows — in
    this function, or in any module that imports this one — fails with
    "element 0 of tensors does not require grad", or trains nothing.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    def evaluate_then_train(model, x):
        torch.set_grad_enabled(False)
        print(model(x).mean())
        loss = model(x).sum()
        loss.backward()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    def evaluate_then_train(model, x):
        with torch.no_grad():
            print(model(x).mean())
        loss = model(x).sum()
        loss.backward()
    ```
    """

    code = "FRZ104"
    name = "grad-disabled-globally"
    summary = "`torch.set_grad_enabled(False)` as a statement switches autograd off globally"
    severity = Severity.WARNING
    triggers = ("set_grad_enabled(False", "set_grad_enabled(mode=False")

    def check(self, tl: flow.Timeline) -> None:
        offs = tl.of(flow.GRAD_OFF)
        if not offs:
            return
        for g in offs:
            if g.via is not None:
                continue
            if isinstance(tl.node, ast.Module):
                reason = self._module_reason(tl)
                if reason is None:
                    continue
            else:
                later = [b for b in tl.after(g, flow.BACKWARD) if not tl.between(g, b, flow.GRAD_ON)]
                looped = [
                    b for b in tl.before(g, flow.BACKWARD)
                    if set(b.loops) & set(g.loops)
                    and not any(set(o.loops) & set(g.loops) for o in tl.of(flow.GRAD_ON))
                ]
                if not later and not looped:
                    continue
                reason = ", and this function calls `backward()` later"
            self.report_at(
                g,
                f"`{self.code_of(g.node)}` as a statement turns autograd off for everything that follows{reason}; "
                f"wrap only the code that needs it in `with torch.no_grad():`",
            )

    def _module_reason(self, tl: flow.Timeline):
        if any(t.of(flow.BACKWARD) for t in self.flow.all_timelines()):
            return " (at import time), and this file calls `backward()`"
        module = tl.node
        is_script = any(
            isinstance(s, ast.If) and "__main__" in self.ctx.code(s.test) for s in module.body
        )
        defines = any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for s in module.body)
        # a notebook is run, never imported: its switch is the session's own (an inference demo)
        if not is_script and defines and not self.ctx.path.endswith(".ipynb"):
            return " at import time, in every program that imports this module"
        return None
