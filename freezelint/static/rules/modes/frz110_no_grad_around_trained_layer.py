from __future__ import annotations

import ast
from typing import List, Optional

from freezelint.findings import Severity
from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.flow.params import grad_mode_of
from freezelint.static.semantic.kinds import MODULE
from freezelint.static.rules.base import Rule


class NoGradAroundTrainedLayer(Rule):
    """
    ## What it does
    Flags a layer that a module builds itself (`self.proj = nn.Linear(...)`),
    never freezes, and then calls inside a `torch.no_grad()` /
    `inference_mode()` block of its own forward pass (`forward`, or a
    method `forward` calls), when what that block computes is what the
    method returns.

    ## Why is this bad?
    Nothing computed under `no_grad` is recorded by autograd: the layer's
    weights get no gradient, so the optimizer built over
    `model.parameters()` never changes them, and the gradient is cut for
    everything before the block too (a projection head over a fine-tuned
    encoder: neither learns). A freshly built `nn.Linear` left at its random
    initialisation is rarely what was meant; blocks that are fixed by design
    (an EMA or momentum copy, a teacher) are frozen, loaded, or not what
    the method returns, and are not flagged.

    At run time: FRZ506 (a trainable parameter got no gradient).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    class TextHead(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.proj = nn.Linear(768, 128)

        def forward(self, tokens):
            hidden = self.encoder(tokens)
            with torch.no_grad():
                out = self.proj(hidden.mean(1))
            return out
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    class TextHead(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.proj = nn.Linear(768, 128)

        def forward(self, tokens):
            hidden = self.encoder(tokens)
            out = self.proj(hidden.mean(1))
            return out
    ```
    (To keep the encoder fixed, freeze it with `requires_grad_(False)` or
    run only `self.encoder(tokens)` under `no_grad`.)
    """

    code = "FRZ110"
    name = "no-grad-around-trained-layer"
    summary = "a layer the module builds and never freezes runs under `no_grad` in its own forward pass"
    severity = Severity.WARNING
    triggers = ("no_grad", "inference_mode")

    def visit_With(self, node: ast.With) -> None:
        scope = self.ctx.scope
        func = scope.node
        if len(node.items) != 1 or not isinstance(func, FUNCTION_NODES) or scope.class_name is None:
            return
        if grad_mode_of(self.facts, node.items[0].context_expr, scope) not in ("no_grad", "inference_mode"):
            return
        if not self._on_forward_path(scope.class_name, func.name) or _nested_in_if(func, node):
            return
        returned = _returned_names(func, node)
        for stmt in node.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
                continue
            layer = self._trained_layer(stmt.value)
            if layer is None or not _flows_to(stmt.targets[0].id, node.body, returned):
                continue
            mode = self.ctx.code(node.items[0].context_expr).strip()
            self.report(
                node,
                f"`{layer}` is built by this module and never frozen, but runs inside `with {mode}:` in "
                f"`{func.name}`, which returns what it computes: it gets no gradient and stays at its "
                f"initial weights, and no gradient flows back through it; call it outside the block "
                f"(keep only the parts meant to stay fixed under `{mode}`)",
            )
            return

    def _trained_layer(self, value: ast.expr) -> Optional[str]:
        """`self.x` called in `value`, an nn layer with parameters built by the class and never frozen."""
        words = self.facts.project.freeze_words
        for n in ast.walk(value):
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)):
                continue
            f = n.func
            if not (isinstance(f.value, ast.Name) and f.value.id == "self"):
                continue
            kind = self.ctx.kind_of(f)
            detail = kind.detail if isinstance(kind.detail, str) else ""
            if kind.tag != MODULE or not detail.startswith("torch.nn.") or self.facts.holds_no_parameters(kind):
                continue
            if f.attr in words or self._frozen_by_class(f.attr):
                continue
            return f"self.{f.attr}"
        return None

    def _frozen_by_class(self, attr: str) -> bool:
        cls = self.ctx.scope.class_name
        table = getattr(self.facts.project, "class_table", None)
        qual = table.find(cls) if table is not None else None
        info = table.classes.get(qual) if qual is not None else None
        if info is None:
            return False
        return attr in getattr(info, "frozen_attrs", ()) or bool(getattr(info, "freezes_self", False))

    def _on_forward_path(self, class_name: str, method: str) -> bool:
        if method == "forward":
            return True
        for cls in self.ctx.module.body:
            if isinstance(cls, ast.ClassDef) and cls.name == class_name:
                for f in cls.body:
                    if isinstance(f, FUNCTION_NODES) and f.name == "forward":
                        return any(
                            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == method
                            and isinstance(n.func.value, ast.Name) and n.func.value.id == "self"
                            for n in ast.walk(f)
                        )
        return False


def _nested_in_if(func: ast.AST, node: ast.AST) -> bool:
    for n in ast.walk(func):
        if isinstance(n, (ast.If, ast.IfExp)) and any(c is node for c in ast.walk(n)):
            return True
    return False


def _returned_names(func: ast.AST, block: ast.With) -> List[str]:
    """Names the function returns after the block (`return out`, `return h, out`)."""
    out: List[str] = []
    for n in ast.walk(func):
        if isinstance(n, ast.Return) and n.value is not None and n.lineno > block.end_lineno:
            elts = n.value.elts if isinstance(n.value, ast.Tuple) else [n.value]
            out.extend(e.id for e in elts if isinstance(e, ast.Name))
    return out


def _flows_to(name: str, body: List[ast.stmt], returned: List[str]) -> bool:
    """`name`, or a later name of the block computed from it, is returned."""
    live = {name}
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if any(isinstance(n, ast.Name) and n.id in live for n in ast.walk(stmt.value)):
                live.add(stmt.targets[0].id)
    return any(r in live for r in returned)
