from __future__ import annotations

import re

import libcst as cst

from freezelint.findings import Applicability
from freezelint.static.rules.base import Rule, requires_grad_call


def _bool_literal(node: cst.CSTNode):
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


class RequiresGradNoEffect(Rule):
    """
    ## What it does
    Flags statements that mention `requires_grad` but change nothing:
    `x.requires_grad_` without the call parentheses, and comparisons such as
    `x.requires_grad == False` whose result is thrown away.

    ## Why is this bad?
    The author meant to freeze (or unfreeze) but wrote an expression whose
    value is discarded. Training runs with every parameter trainable.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Linear(8, 2)
    for p in model.parameters():
        p.requires_grad == False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Linear(8, 2)
    for p in model.parameters():
        p.requires_grad = False
    ```
    """

    code = "FRZ004"
    name = "requires-grad-no-effect"
    summary = "a `requires_grad` expression whose result is discarded changes nothing"
    fixable = "unsafe"
    triggers = ("requires_grad",)
    trigger_pattern = re.compile(r"requires_grad\s*(?:==|!=|\bis\b)|requires_grad_\s*(?:[;#]|$)", re.M)

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "requires_grad_":
            receiver = self.ctx.code(value.value)
            self.report(
                value,
                f"`{receiver}.requires_grad_` is never called and changes nothing; "
                f"call it: `{receiver}.requires_grad_(False)` to freeze",
            )
            return
        if not (isinstance(value, cst.Comparison) and len(value.comparisons) == 1):
            return
        left, comp = value.left, value.comparisons[0]
        if not (isinstance(left, cst.Attribute) and left.attr.value == "requires_grad"):
            return
        flag = _bool_literal(comp.comparator)
        if flag is None:
            return
        op = comp.operator
        if isinstance(op, (cst.NotEqual, cst.IsNot)):
            flag = not flag
        elif not isinstance(op, (cst.Equal, cst.Is)):
            return
        receiver = self.ctx.code(left.value)
        if self.ctx.is_module(left.value):
            intended = f"{receiver}.requires_grad_({flag})"
            new = requires_grad_call(left.value, cst.Name(str(flag)))
            replace = (node, cst.Expr(new))
        else:
            intended = f"{receiver}.requires_grad = {flag}"
            replace = (
                node,
                cst.Assign(targets=[cst.AssignTarget(left)], value=cst.Name(str(flag))),
            )
        self.report(
            value,
            f"`{self.ctx.code(value)}` compares and discards the result; to set the flag write `{intended}`",
            replace=replace,
            applicability=Applicability.UNSAFE,
            fix_message=f"Write `{intended}`",
        )
