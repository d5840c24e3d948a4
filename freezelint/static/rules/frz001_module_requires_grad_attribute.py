from __future__ import annotations

import re

import ast

from freezelint.findings import Applicability
from freezelint.static.rules.base import Rule, requires_grad_call


class ModuleRequiresGradAttribute(Rule):
    """
    ## What it does
    Flags `module.requires_grad = False` (or `True`) where `module` is an
    `nn.Module`.

    ## Why is this bad?
    `requires_grad` is a flag of tensors, not of modules. Assigning it on a
    module only creates a plain Python attribute: no parameter is frozen, the
    backbone keeps training, and nothing warns you. `Module.requires_grad_()`
    (with the trailing underscore) is the method that sets the flag on every
    parameter of the module.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    model[0].requires_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    model[0].requires_grad_(False)
    ```
    """

    code = "FRZ001"
    name = "module-requires-grad-attribute"
    summary = "`requires_grad` assigned on an nn.Module sets a plain attribute and freezes nothing"
    fixable = "safe"
    triggers = ("requires_grad",)
    trigger_pattern = re.compile(r"\.requires_grad\s*=(?!=)")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            if not (isinstance(t, ast.Attribute) and t.attr == "requires_grad"):
                continue
            kind = self.ctx.kind_of(t.value)
            if not kind.is_module():
                continue
            if self.facts.class_keeps_requires_grad_option(kind.detail):
                continue  # the class reads its own `requires_grad` option back
            if self._stores_an_option(t, node.value):
                continue  # `self.requires_grad = requires_grad`, and the argument is passed on: an option
            receiver = self.ctx.code(t.value)
            value = self.ctx.code(node.value)
            message = (
                f"`{receiver}.requires_grad = {value}` sets a plain attribute on an nn.Module and "
                f"freezes nothing; use `{receiver}.requires_grad_({value})`"
            )
            replace = None
            if len(node.targets) == 1:
                replace = (node, requires_grad_call(receiver, value))
            self.report(
                t,
                message,
                replace=replace,
                applicability=Applicability.SAFE,
                fix_message=f"Call `{receiver}.requires_grad_({value})`",
            )

    def _stores_an_option(self, target: ast.Attribute, value: ast.AST) -> bool:
        """On `self`, from a parameter of the method that the method also uses elsewhere (`freeze=not requires_grad`)."""
        if not (isinstance(target.value, ast.Name) and target.value.id == "self" and isinstance(value, ast.Name)):
            return False
        scope = self.ctx.scope
        if not any(p[0] == value.id for p in scope.params):
            return False
        uses = sum(1 for n in ast.walk(scope.node) if isinstance(n, ast.Name) and n.id == value.id and isinstance(n.ctx, ast.Load))
        return uses > 1
