from __future__ import annotations

import re

import ast

from freezelint.static.rules.base import Rule

GRAD_MODE_CONTEXTS = {
    "torch.no_grad": "no_grad",
    "torch.enable_grad": "enable_grad",
    "torch.inference_mode": "inference_mode",
    "torch.autograd.no_grad": "no_grad",
    "torch.autograd.enable_grad": "enable_grad",
    "torch.autograd.inference_mode": "inference_mode",
    "torch.autograd.grad_mode.no_grad": "no_grad",
    "torch.autograd.grad_mode.enable_grad": "enable_grad",
    "torch.autograd.grad_mode.inference_mode": "inference_mode",
}


class GradModeCallDiscarded(Rule):
    """
    ## What it does
    Flags `torch.no_grad()`, `torch.enable_grad()` and `torch.inference_mode()`
    called as statements on their own.

    ## Why is this bad?
    These are context managers (and decorators). Calling one builds the
    object and throws it away: gradient mode is never changed, so the code
    that follows still records a graph (or, for `enable_grad`, still does
    not). `torch.set_grad_enabled(False)` is the one that switches globally.

    ## Example
    ```python
    import torch

    def evaluate(model, x):
        torch.no_grad()
        return model(x)
    ```

    ## Use instead
    ```python
    import torch

    def evaluate(model, x):
        with torch.no_grad():
            return model(x)
    ```
    """

    code = "FRZ007"
    name = "grad-mode-call-discarded"
    summary = "a grad-mode context manager called as a statement is never entered"
    triggers = ("no_grad", "enable_grad", "inference_mode")
    # one of them called as a whole statement
    trigger_pattern = tuple(re.compile(w + r"\([^()]*\)\s*(?:[;#]|$)", re.M) for w in triggers)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if not isinstance(call, ast.Call):
            return
        qual = self.ctx.qualified(call.func)
        short = GRAD_MODE_CONTEXTS.get(qual or "")
        if short is None:
            return
        code = self.ctx.code(call)
        self.report(
            call,
            f"`{code}` creates a context manager and discards it: gradient mode is unchanged; "
            f"write `with torch.{short}():` around the code it should cover",
        )
