"""FRZ301's anchored suggestion: a name test that selects the same block whether or not the
model's parameter names carry a prefix.

A transformers base model (`AutoModel`, `BertModel`) names its parameters from its own
submodules (`encoder.layer.1.attention...`); a task model (`AutoModelForSequenceClassification`,
`BertForSequenceClassification`) puts its base model's prefix first (`bert.encoder.layer.1...`),
and a PEFT wrapper more (`base_model.model.bert...`). The knowledge base says which class a
name was built from; when that is a base model the suggestion is `name.startswith("encoder.layer.1.")`,
otherwise a dot-bounded test that also accepts the start of the name: `".encoder.layer.1." in "." + name`.
"""

from __future__ import annotations

import ast
from typing import Optional

from freezelint.static import knowledge

_PRETRAINED_MODEL = "transformers.modeling_utils.PreTrainedModel"


def names_prefixed(facts, scope, path: Optional[str]) -> Optional[bool]:
    """For `path` a local name bound once to a transformers model: False when its parameter names
    start at its own submodules (a base model), True when a task model's prefix comes first, None
    when not known."""
    if not path or "." in path:
        return None
    bindings = facts.lookup(path, scope)
    if not bindings or len(bindings) != 1 or bindings[0].iterate or not isinstance(bindings[0].expr, ast.Call):
        return None
    b = bindings[0]
    qual = facts.qualified(b.expr.func, b.scope) or ""
    resolved = knowledge.resolve(qual) or qual
    if not resolved.startswith("transformers."):
        return None
    head, _, last = resolved.rpartition(".")
    cls = head if last in knowledge.PRETRAINED_METHODS else resolved
    short = cls.rpartition(".")[2]
    if "For" in short:
        return True
    if short == "AutoModel" or (
        short.endswith("Model") and not short.endswith("PreTrainedModel") and _PRETRAINED_MODEL in knowledge.mro(cls)
    ):
        return False
    return None


def anchored_test(value: str, op: str, var: str, dotted: bool, prefixed: Optional[bool]) -> str:
    """The suggested replacement for `"<value>" <op> <var>`."""
    if not dotted:
        return f'"{value}." {op} {var}'
    if prefixed is False:
        return f'{"not " if op == "not in" else ""}{var}.startswith("{value}.")'
    return f'".{value}." {op} "." + {var}'


__all__ = ["anchored_test", "names_prefixed"]
