from __future__ import annotations

import ast
from typing import List, Optional

from freezelint.findings import Severity
from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.flow.params import grad_mode_of
from freezelint.static.rules.base import Rule


def _plain(value: ast.expr) -> bool:
    """A value that names something without computing anything: a name, a constant, a tuple of them."""
    if isinstance(value, (ast.Name, ast.Constant)):
        return True
    if isinstance(value, (ast.Tuple, ast.List)):
        return all(_plain(e) for e in value.elts)
    return False


class NoGradBlockComputesNothing(Rule):
    """
    ## What it does
    Flags a `with torch.no_grad():` (or `inference_mode()`) block whose
    body only rebinds names (`z = noise`, `a, b = b, a`) or does nothing.

    ## Why is this bad?
    Grad mode applies to the operations run inside the block, not to the
    tensors named there: binding a name computes nothing, so nothing is
    "frozen". The forward that was meant to run without gradients (the
    generator of a GAN while the critic trains, a teacher) runs on the next
    line with autograd on: it records a graph, costs memory, and, unless
    something detaches it later, sends gradients where they were not meant
    to go.

    At run time: FRZ501 (a frozen parameter has a gradient at the step).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    generator = nn.Linear(4, 4)
    critic = nn.Linear(4, 1)
    noise = torch.randn(8, 4)
    with torch.no_grad():
        z = noise  # meant to keep the generator out of the critic's step
    fake = generator(z)
    critic(fake).mean().backward()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    generator = nn.Linear(4, 4)
    critic = nn.Linear(4, 1)
    noise = torch.randn(8, 4)
    with torch.no_grad():
        fake = generator(noise)
    critic(fake).mean().backward()
    ```
    """

    code = "FRZ010"
    name = "no-grad-block-computes-nothing"
    summary = "a `no_grad` block that only rebinds names freezes nothing"
    severity = Severity.WARNING
    triggers = ("no_grad", "inference_mode", "set_grad_enabled(False")

    def visit_With(self, node: ast.With) -> None:
        if len(node.items) != 1 or node.items[0].optional_vars is not None:
            return
        mode = grad_mode_of(self.facts, node.items[0].context_expr, self.ctx.scope)
        if mode not in ("no_grad", "inference_mode"):
            return
        names: List[str] = []
        for stmt in node.body:
            if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
                continue
            if isinstance(stmt, ast.Assign) and _plain(stmt.value) and all(_plain(t) for t in stmt.targets):
                names.extend(n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name))
                continue
            return
        head = self.ctx.code(node.items[0].context_expr)
        body = "; ".join(self.ctx.code(s).strip() for s in node.body)
        use = self._next_use(node, names)
        if use is not None:
            instead = (
                f"move the computation meant to run without gradients into the block "
                f"(`{use}`, which uses {', '.join(f'`{n}`' for n in names)} next, still records a graph)"
            )
        else:
            instead = "move the computation meant to run without gradients into the block, or remove it"
        self.report(
            node,
            f"`with {head}:` wraps only `{body}`, which computes nothing: grad mode applies to operations, "
            f"not to names, so this freezes nothing; {instead}",
        )

    def _next_use(self, node: ast.With, names: List[str]) -> Optional[str]:
        """The code of the first call after the block, in the same body, that reads one of `names`."""
        body = self._body_of(node)
        if body is None:
            return None
        for stmt in body[body.index(node) + 1:]:
            for n in ast.walk(stmt):
                if isinstance(n, ast.Call) and any(
                    isinstance(a, ast.Name) and a.id in names for a in ast.walk(n) if a is not n.func
                ):
                    text = self.ctx.code(n).strip()
                    return text if len(text) <= 60 else None
        return None

    def _body_of(self, node: ast.With) -> Optional[List[ast.stmt]]:
        scope_node = self.ctx.scope.node
        for n in ast.walk(scope_node):
            if isinstance(n, FUNCTION_NODES) and n is not scope_node:
                continue
            for field in ("body", "orelse", "finalbody"):
                block = getattr(n, field, None)
                if isinstance(block, list) and node in block:
                    return block
        return None
