"""What an `isinstance` test proves: `if isinstance(m, nn.BatchNorm2d):` in its body, and
`if not isinstance(x, nn.Linear): raise` below it. The rule traversal (`context`) applies them
where the rules are; `facts` applies a function's first checks of its parameters to every use."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set

from freezelint.static.parse.astutil import FUNCTION_NODES, dotted_name, ends_in_exit
from freezelint.static.semantic.evidence import annotation_evidence, library_class_kind
from freezelint.static.semantic.kinds import K_MODULE, K_TENSOR, Kind, join


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


def union_members(ann: Optional[ast.AST]) -> Optional[List[ast.AST]]:
    """The members of `Union[A, B]`, `Optional[A]` or `A | B` (None itself left out); None otherwise."""
    if isinstance(ann, ast.Subscript) and (dotted_name(ann.value) or "").rsplit(".", 1)[-1] in ("Union", "Optional"):
        members = list(ann.slice.elts) if isinstance(ann.slice, ast.Tuple) else [ann.slice]
    elif isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        members, todo = [], [ann]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
                todo += [n.right, n.left]
            else:
                members.append(n)
    else:
        return None
    return [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]


def excluded_classes(func: ast.AST, use: ast.Name) -> Set[str]:
    """The classes (as spelled) an `isinstance` test around this use rules out: `use` in the else arm of
    `if isinstance(x, str):`, or in the body of `if not isinstance(x, str):`."""
    out: Set[str] = set()
    todo = list(getattr(func, "body", ()))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If):
            test, negated = node.test, False
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test, negated = test.operand, True
            arm = node.body if negated else node.orelse
            if arm and _tests_name(test, use.id) and arm[0].lineno <= use.lineno <= (arm[-1].end_lineno or 0):
                classes = test.args[1]
                out.update(dotted_name(c) or "" for c in (classes.elts if isinstance(classes, ast.Tuple) else [classes]))
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, ()) or ())
    out.discard("")
    return out


def _tests_name(test: ast.AST, name: str) -> bool:
    return (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"
            and len(test.args) == 2 and isinstance(test.args[0], ast.Name) and test.args[0].id == name)


def union_narrowed(facts: "FileFacts", name: ast.Name, scope, bindings: list) -> Optional[Kind]:
    """`def f(m: Union[str, BertModel])` used where `isinstance(m, str)` was ruled out (its else arm):
    the members left, when every one is a Module."""
    if len(bindings) != 1 or bindings[0].expr is not None or bindings[0].scope is not scope:
        return None
    ann = next((a for p, a, _ in scope.params if p == name.id), None)
    members = union_members(ann)
    if not members:
        return None
    excluded = excluded_classes(scope.node, name)
    rest = [m for m in members if (dotted_name(m) or "") not in excluded]
    if not excluded or not rest or len(rest) == len(members):
        return None
    kinds = [annotation_evidence(m, facts._annotation_name, facts.is_module_class) for m in rest]
    return join(kinds) if all(k is not None and k.is_module() for k in kinds) else None


def narrowed_param(facts: "FileFacts", scope, name: str) -> Optional[Kind]:
    """A parameter the function body checks first thing (`if not isinstance(x, nn.Linear): raise`,
    at its top level): every use below sees that class, so its bindings do too (`self.x = x`)."""
    func = scope.node
    if not isinstance(func, FUNCTION_NODES) or name in scope.bindings:
        return None  # rebound somewhere: the check says nothing about the other values
    for stmt in func.body:
        test = narrowing_test(stmt)
        if test is not None:
            got = isinstance_guards(test, facts, scope).get(name)
            if got is not None:
                return got
    return None
