from __future__ import annotations

import re

import ast

from freezelint.findings import Applicability
from freezelint.static.semantic.kinds import SD_VALUE, TENSOR
from freezelint.static.rules.base import Rule


class DetachResultDiscarded(Rule):
    """
    ## What it does
    Flags `x.detach()` used as a statement on its own, where `x` is a tensor.

    ## Why is this bad?
    `detach()` returns a new tensor and leaves `x` attached to the graph.
    Called as a statement, its result is thrown away: gradients still flow
    through `x` into the part of the model you meant to cut off.

    ## Example
    ```python
    import torch.nn as nn

    encoder = nn.Linear(8, 8)

    def embed(x):
        features = encoder(x)
        features.detach()
        return features
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    encoder = nn.Linear(8, 8)

    def embed(x):
        features = encoder(x)
        features = features.detach()
        return features
    ```

    ## Fix safety
    The fix (`x = x.detach()`) is unsafe: every later use of `x` in the function now sees the
    detached tensor, so gradients stop flowing through them, which is usually the intent but
    changes what trains.
    """

    code = "FRZ006"
    name = "detach-result-discarded"
    summary = "`detach()` returns a new tensor; as a bare statement it cuts nothing"
    fixable = "unsafe"
    triggers = ("detach()",)
    trigger_pattern = re.compile(r"\.detach\(\)\s*(?:[;#]|$)", re.M)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if not (
            isinstance(call, ast.Call)
            and not call.args
            and not call.keywords
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "detach"
        ):
            return
        receiver = call.func.value
        if self.ctx.kind_of(receiver).tag not in (TENSOR, SD_VALUE):
            return  # other objects have side-effecting detach() methods (weakref.finalize, io)
        code = self.ctx.code(receiver)
        replace = None
        if isinstance(receiver, ast.Name):
            replace = (node, f"{code} = {self.ctx.code(call)}")
        self.report(
            call,
            f"`{code}.detach()` returns a new tensor that is thrown away; `{code}` stays in the graph. "
            f"Write `{code} = {code}.detach()` (or `{code}.detach_()` to detach in place)",
            replace=replace,
            applicability=Applicability.UNSAFE,
            fix_message=f"Assign `{code} = {code}.detach()`",
        )
