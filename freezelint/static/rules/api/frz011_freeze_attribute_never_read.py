from __future__ import annotations

import ast
from functools import cached_property
from typing import FrozenSet

from freezelint.findings import Severity
from freezelint.static.parse.astutil import bool_literal
from freezelint.static.semantic.kinds import TENSOR
from freezelint.static.rules.base import Rule

# Attribute names that say "frozen" or "trainable" in other frameworks (Keras `trainable`, Paddle
# `stop_gradient`, `is_trainable`...) and that no torch.Tensor / nn.Parameter has or reads.
FREEZE_WORDS = frozenset(
    {
        "trainable", "is_trainable", "learnable", "is_learnable", "requires_training", "train", "training",
        "frozen", "is_frozen", "freeze", "freezed", "fixed", "stop_gradient", "grad_required", "update",
    }
)
# the ones that mean "frozen" when True (the others mean "trainable" when True)
_FROZEN_WHEN_TRUE = frozenset({"frozen", "is_frozen", "freeze", "freezed", "fixed", "stop_gradient"})


class FreezeAttributeNeverRead(Rule):
    """
    ## What it does
    Flags `param.trainable = False`, `param.is_trainable = False`,
    `param.frozen = True` and the like on a parameter or tensor (a loop
    variable over `.parameters()`, `named_parameters()`, a `.weight`) when
    nothing in the same file reads that attribute back.

    ## Why is this bad?
    PyTorch has no such attribute: assigning it just attaches a new Python
    attribute to the tensor. `requires_grad` stays `True`, the parameter
    gets gradients and the optimizer updates it: the part meant to stay
    frozen is trained. (Keras' `layer.trainable`, Paddle's `stop_gradient`
    and other libraries' flags do not carry over.)

    At run time: FRZ504 (declared frozen but trainable) and FRZ502 (it moved).

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    for param in model[0].parameters():
        param.is_trainable = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    for param in model[0].parameters():
        param.requires_grad = False
    ```
    """

    code = "FRZ011"
    name = "freeze-attribute-never-read"
    summary = "a freeze flag PyTorch never reads (`param.trainable = False`) set on a parameter"
    severity = Severity.ERROR
    triggers = tuple(f".{w} =" for w in sorted(FREEZE_WORDS))

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1:
            return
        target = node.targets[0]
        flag = bool_literal(node.value)
        if not isinstance(target, ast.Attribute) or target.attr not in FREEZE_WORDS or flag is None:
            return
        if self.ctx.kind_of(target.value).tag != TENSOR or target.attr in self._read_in_file:
            return
        frozen = flag if target.attr in _FROZEN_WHEN_TRUE else not flag
        recv = self.ctx.code(target.value).strip()
        if frozen:
            what = f"`{recv}` keeps `requires_grad=True`, gets gradients and is updated"
            instead = f"`{recv}.requires_grad = False`"
        else:
            what = f"`{recv}.requires_grad` is unchanged"
            instead = f"`{recv}.requires_grad = True`"
        self.report(
            node,
            f"`{self.ctx.code(target).strip()} = {flag}` sets an attribute PyTorch never reads on a tensor: "
            f"{what}; write {instead}",
        )

    @cached_property
    def _read_in_file(self) -> FrozenSet[str]:
        """The freeze words this file reads itself (`if p.trainable:`, `getattr(p, "trainable")`): the project
        uses them as its own flags. Worked out once per file (the runner keeps one rule instance per file)."""
        reads = set()
        for n in ast.walk(self.ctx.module):
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load) and n.attr in FREEZE_WORDS:
                reads.add(n.attr)
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in FREEZE_WORDS:
                reads.add(n.value)
        return frozenset(reads)
