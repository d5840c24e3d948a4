from __future__ import annotations

import re

import ast
from functools import cached_property
from typing import Optional, Set, Tuple

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

    ## Fix safety
    The fix (`module.requires_grad_(flag)`) is safe: the assignment froze nothing and created a plain
    attribute nothing else can rely on, so the rewrite only adds the freeze that was meant. When the
    same file reads `module.requires_grad` back (`if not model.requires_grad:`), the fix is marked
    unsafe: after it, that attribute no longer exists and the read raises `AttributeError`.
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
            read_back = (self.ctx.scope.class_name if receiver.startswith("self") else None, receiver) in self._read_back
            self.report(
                t,
                message,
                replace=replace,
                # After the fix the attribute no longer exists: code that reads it back would raise AttributeError.
                applicability=Applicability.UNSAFE if read_back else Applicability.SAFE,
                fix_message=f"Call `{receiver}.requires_grad_({value})`"
                + (f" (unsafe: `{receiver}.requires_grad` is read elsewhere in this file)" if read_back else ""),
            )

    @cached_property
    def _read_back(self) -> Set[Tuple[Optional[str], str]]:
        """(class, receiver) pairs whose `.requires_grad` this file reads (`if not model.requires_grad:`);
        the class only for `self...` receivers, since another class's `self` is another object.
        Worked out at this rule's first finding in a file (the runner keeps one rule instance per file)."""
        out: Set[Tuple[Optional[str], str]] = set()

        def reads(node):
            for n in ast.walk(node):
                if isinstance(n, ast.Attribute) and n.attr == "requires_grad" and isinstance(n.ctx, ast.Load):
                    yield self.ctx.code(n.value)

        out.update((None, r) for r in reads(self.facts.module) if not r.startswith("self"))
        for name, infos in self.facts.classes.items():
            for info in infos:
                out.update((name, r) for r in reads(info.node) if r.startswith("self"))
        return out

    def _stores_an_option(self, target: ast.Attribute, value: ast.AST) -> bool:
        """On `self`, from a parameter of the method that the method also uses elsewhere (`freeze=not requires_grad`)."""
        if not (isinstance(target.value, ast.Name) and target.value.id == "self" and isinstance(value, ast.Name)):
            return False
        scope = self.ctx.scope
        if not any(p[0] == value.id for p in scope.params):
            return False
        uses = sum(1 for n in ast.walk(scope.node) if isinstance(n, ast.Name) and n.id == value.id and isinstance(n.ctx, ast.Load))
        return uses > 1
