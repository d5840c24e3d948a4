"""What an `isinstance` test proves: `if isinstance(m, nn.BatchNorm2d):` in its body, and
`if not isinstance(x, nn.Linear): raise` below it. The rule traversal (`context`) applies them
where the rules are; `facts` applies a function's first checks of its parameters to every use."""

from __future__ import annotations

import ast
from typing import Dict, Optional

from freezelint.static.astutil import dotted_name, ends_in_exit
from freezelint.static.evidence import library_class_kind
from freezelint.static.kinds import K_MODULE, K_TENSOR, Kind


def isinstance_guards(test: ast.AST, facts: FileFacts, scope: Scope) -> Dict[str, Kind]:
    """Names that `test` proves to be Modules or tensors: `isinstance(m, nn.BatchNorm2d)`."""
    out: Dict[str, Kind] = {}
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        for v in test.values:
            out.update(isinstance_guards(v, facts, scope))
        return out
    if not (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
        and len(test.args) == 2
        and not test.keywords
        and isinstance(test.args[0], ast.Name)
    ):
        return out
    classes = test.args[1]
    elems = list(classes.elts) if isinstance(classes, ast.Tuple) else [classes]
    kinds = set()
    for cls in elems:
        qual = facts.qualified(cls, scope)
        last = (qual or dotted_name(cls) or "").rsplit(".", 1)[-1]
        if qual and qual.startswith("torch.nn.") and last[:1].isupper():
            kinds.add("tensor" if last in ("Parameter", "Buffer") else "module")
        elif qual in ("torch.Tensor",):
            kinds.add("tensor")
        elif facts.is_module_class(last) or library_class_kind(qual) is not None:
            kinds.add("module")
        else:
            return {}
    if kinds == {"module"}:
        out[test.args[0].id] = K_MODULE
    elif kinds == {"tensor"}:
        out[test.args[0].id] = K_TENSOR
    return out


def narrowing_test(stmt: ast.stmt) -> Optional[ast.AST]:
    """`if not isinstance(x, C): raise ...` (no else): the isinstance test that holds below it."""
    if (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and ends_in_exit(stmt.body)
        and isinstance(stmt.test, ast.UnaryOp)
        and isinstance(stmt.test.op, ast.Not)
    ):
        return stmt.test.operand
    return None
