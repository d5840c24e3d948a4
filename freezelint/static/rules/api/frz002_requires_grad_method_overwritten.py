from __future__ import annotations

import re

import ast

from freezelint.findings import Applicability
from freezelint.static.rules.base import Rule


def is_boolish(node: ast.AST) -> bool:
    """A value that is plainly a flag, never a replacement function."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Not)
    return isinstance(node, (ast.Compare, ast.BoolOp))


class RequiresGradMethodOverwritten(Rule):
    """
    ## What it does
    Flags `x.requires_grad_ = False`: an assignment to the *method*
    `requires_grad_`.

    ## Why is this bad?
    It replaces the bound method with a bool on that one object. Nothing is
    frozen, and a later `x.requires_grad_(False)` fails with
    `TypeError: 'bool' object is not callable`.

    ## Example
    ```python
    import torch.nn as nn

    encoder = nn.Linear(8, 8)
    encoder.requires_grad_ = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    encoder = nn.Linear(8, 8)
    encoder.requires_grad_(False)
    ```

    ## Fix safety
    The fix (call the method instead of assigning it) is safe: the assignment replaced the method
    with a bool and froze nothing, so the rewrite only adds the freeze that was meant; any later
    call of `x.requires_grad_(...)` that raised `TypeError: 'bool' object is not callable` works.
    """

    code = "FRZ002"
    name = "requires-grad-method-overwritten"
    summary = "`requires_grad_` is a method; assigning to it overwrites the method and freezes nothing"
    fixable = "safe"
    triggers = ("requires_grad_",)
    trigger_pattern = re.compile(r"\.requires_grad_\s*=(?!=)")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            if not (isinstance(t, ast.Attribute) and t.attr == "requires_grad_"):
                continue
            if not is_boolish(node.value):
                continue  # assigning a callable is deliberate patching, not this mistake
            receiver = self.ctx.code(t.value)
            value = self.ctx.code(node.value)
            replace = None
            if len(node.targets) == 1:
                replace = (node, f"{receiver}.requires_grad_({value})")
            self.report(
                t,
                f"`{receiver}.requires_grad_ = {value}` overwrites the method and freezes nothing; "
                f"call it: `{receiver}.requires_grad_({value})`",
                replace=replace,
                applicability=Applicability.SAFE,
                fix_message=f"Call `{receiver}.requires_grad_({value})`",
            )
