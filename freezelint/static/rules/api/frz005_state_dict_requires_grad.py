from __future__ import annotations

import re

import ast

from freezelint.static.semantic.kinds import SD_VALUE
from freezelint.static.rules.base import Rule


class StateDictRequiresGrad(Rule):
    """
    ## What it does
    Flags `requires_grad` set on tensors taken out of `.state_dict()`: in a
    loop over it, its `.values()` or `.items()`, or by subscript.

    ## Why is this bad?
    `state_dict()` returns detached tensors (unless `keep_vars=True`). Setting
    `requires_grad` on them changes copies that the model never sees; every
    parameter stays trainable.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Linear(8, 2)
    for name, tensor in model.state_dict().items():
        tensor.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Linear(8, 2)
    for name, param in model.named_parameters():
        param.requires_grad = False
    ```
    """

    code = "FRZ005"
    name = "state-dict-requires-grad"
    summary = "`requires_grad` set on a state_dict tensor (a detached copy) freezes nothing"
    triggers = ("state_dict",)
    trigger_pattern = re.compile(r"requires_grad")

    MESSAGE = (
        "`{expr}` comes from `state_dict()`, which holds detached copies: setting `requires_grad` "
        "on it freezes nothing; iterate `named_parameters()` instead"
    )

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            if isinstance(t, ast.Attribute) and t.attr == "requires_grad":
                if self.ctx.kind_of(t.value).tag == SD_VALUE:
                    self.report(t, self.MESSAGE.format(expr=self.ctx.code(t.value)))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "requires_grad_":
            if self.ctx.kind_of(func.value).tag == SD_VALUE:
                self.report(node, self.MESSAGE.format(expr=self.ctx.code(func.value)))
