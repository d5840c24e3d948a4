from __future__ import annotations

import re

import ast

from freezelint.findings import Applicability
from freezelint.static.rules.base import Rule, requires_grad_call


def _bool_literal(node: ast.AST):
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
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

    ## Fix safety
    The fix (turn the discarded comparison into the assignment, or call the method) is unsafe: it
    changes behaviour on purpose, since the line did nothing before, and the comparison may have
    been a mistyped `assert` rather than a mistyped assignment.
    """

    code = "FRZ004"
    name = "requires-grad-no-effect"
    summary = "a `requires_grad` expression whose result is discarded changes nothing"
    fixable = "unsafe"
    triggers = ("requires_grad",)
    # `requires_grad == / != / is`, or `requires_grad_` ending a statement (starting with the word: a fast search)
    trigger_pattern = re.compile(r"requires_grad(?:\s*(?:==|!=|\bis\b)|_\s*(?:[;#]|$))", re.M)

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        if isinstance(value, ast.Attribute) and value.attr == "requires_grad_":
            receiver = self.ctx.code(value.value)
            self.report(
                value,
                f"`{receiver}.requires_grad_` is never called and changes nothing; "
                f"call it: `{receiver}.requires_grad_(False)` to freeze",
            )
            return
        if not (isinstance(value, ast.Compare) and len(value.ops) == 1):
            return
        left, op = value.left, value.ops[0]
        if not (isinstance(left, ast.Attribute) and left.attr == "requires_grad"):
            return
        flag = _bool_literal(value.comparators[0])
        if flag is None:
            return
        if isinstance(op, (ast.NotEq, ast.IsNot)):
            flag = not flag
        elif not isinstance(op, (ast.Eq, ast.Is)):
            return
        receiver = self.ctx.code(left.value)
        if self.ctx.is_module(left.value):
            intended = f"{receiver}.requires_grad_({flag})"
            replace = (node, requires_grad_call(receiver, str(flag)))
        else:
            intended = f"{receiver}.requires_grad = {flag}"
            replace = (node, f"{receiver}.requires_grad = {flag}")
        self.report(
            value,
            f"`{self.ctx.code(value)}` compares and discards the result; to set the flag write `{intended}`",
            replace=replace,
            applicability=Applicability.UNSAFE,
            fix_message=f"Write `{intended}`",
        )
