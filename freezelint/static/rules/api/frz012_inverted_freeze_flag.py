from __future__ import annotations

import ast
import re
from typing import Optional

from freezelint.findings import Severity
from freezelint.static.parse.astutil import dotted_name
from freezelint.static.rules.base import Rule

# The words of a flag's name that say which way it points. A name with words of both senses
# (`freeze_trainable`, `train_frozen`) says nothing clear and is left alone.
_TRAINABLE = re.compile(r"(?:^|_)(?:requires?_?grads?|trainable|finetune|fine_tune|learnable|tune|update|train)(?:_|$)")
_FROZEN = re.compile(r"(?:^|_)(?:freeze|frozen|freezed|fix|fixed|no_grad)(?:_|$)")


def _sense(expr: ast.expr) -> Optional[str]:
    """"trainable" / "frozen" for a bare flag whose name says which; None for anything else (`not x`, calls)."""
    name = dotted_name(expr) if isinstance(expr, (ast.Name, ast.Attribute)) else None
    if not name:
        return None
    last = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.rsplit(".", 1)[-1]).lower()
    t, f = bool(_TRAINABLE.search(last)), bool(_FROZEN.search(last))
    if t == f:
        return None
    return "trainable" if t else "frozen"


class InvertedFreezeFlag(Rule):
    """
    ## What it does
    Flags a flag whose name says one thing passed where PyTorch expects the
    opposite: `Embedding.from_pretrained(w, freeze=requires_grad)`,
    `p.requires_grad = freeze_backbone`, `m.requires_grad_(self.frozen)`,
    `nn.Parameter(t, requires_grad=fix_embeddings)`.

    ## Why is this bad?
    `freeze=True` freezes; `requires_grad=True` trains. A flag that means
    "trainable" handed to `freeze=` (or a "freeze" flag handed to
    `requires_grad`) does the opposite of what its name and its callers
    say: the part the user asked to train is frozen, and the one asked to
    stay fixed is trained.

    At run time: FRZ504 (declared frozen but trainable), FRZ506 (trainable
    parameter got no gradient).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    def make_embedding(vectors, trainable=False):
        return nn.Embedding.from_pretrained(vectors, freeze=trainable)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    def make_embedding(vectors, trainable=False):
        return nn.Embedding.from_pretrained(vectors, freeze=not trainable)
    ```
    """

    code = "FRZ012"
    name = "inverted-freeze-flag"
    summary = "a flag named for the opposite sense passed as `freeze=` or `requires_grad`"
    severity = Severity.WARNING
    triggers = ("freeze=", "requires_grad")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        for kw in node.keywords:
            if kw.arg == "freeze" and last == "from_pretrained" and self._is_embedding(func):
                self._check(kw.value, "trainable", "freeze=")
            elif kw.arg == "requires_grad" and self._is_torch(func):
                self._check(kw.value, "frozen", "requires_grad=")
        if last == "requires_grad_" and node.args and isinstance(func, ast.Attribute):
            self._check(node.args[0], "frozen", "requires_grad_(...)")

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute) and node.targets[0].attr == "requires_grad":
            if self.ctx.kind_of(node.targets[0].value).tag == "tensor":
                self._check(node.value, "frozen", self.ctx.code(node.targets[0]).strip() + " =")

    def _is_embedding(self, func: ast.expr) -> bool:
        qual = self.ctx.qualified(func.value) if isinstance(func, ast.Attribute) else None
        return bool(qual) and qual.rsplit(".", 1)[-1] in ("Embedding", "EmbeddingBag")

    def _is_torch(self, func: ast.expr) -> bool:
        qual = self.ctx.qualified(func) or ""
        return qual.startswith("torch.")

    def _check(self, value: ast.expr, wrong: str, where: str) -> None:
        if _sense(value) != wrong:
            return
        flag = self.ctx.code(value).strip()
        if wrong == "trainable":
            meaning = f"`{flag}` reads as \"trainable\" but is passed as `freeze=`: True freezes, False trains"
        else:
            meaning = f"`{flag}` reads as \"frozen\" but is passed as `{where.strip()}`: True trains, False freezes"
        if where.startswith("requires_grad_("):
            fixed = f"requires_grad_(not {flag})"
        elif where.endswith(" ="):
            fixed = f"{where} not {flag}"
        else:
            fixed = f"{where}not {flag}"
        self.report(value, f"{meaning}, the opposite of its name; write `{fixed}`")
