"""One iterative depth-first traversal of a CPython `ast` tree, driving several visitors.

Visitors have `on_visit(node)` (children are skipped when every visitor returns
False) and `on_leave(node)`, and may name the node classes they ignore (`_plan`).
It is iterative, so deeply nested code cannot exhaust the Python stack here.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Sequence, Tuple

# Where source order differs from `_fields` order.
_SOURCE_ORDER: Dict[type, Tuple[str, ...]] = {
    ast.IfExp: ("body", "test", "orelse"),
    ast.FunctionDef: ("decorator_list", "args", "returns", "body"),
    ast.AsyncFunctionDef: ("decorator_list", "args", "returns", "body"),
    ast.ClassDef: ("decorator_list", "bases", "keywords", "body"),
}
# Fields that never hold nodes a rule looks at.
_SKIP = frozenset({"ctx", "type_comment", "kind", "type_ignores", "op", "ops"})
# Fields that hold only names, numbers or constants in every tree the parser builds (`Name.id`,
# `Attribute.attr`...): not looking into them saves a getattr and a test per node for nothing.
_PRIMITIVE = frozenset({"id", "attr", "arg", "asname", "module", "level", "name", "conversion", "simple", "is_async", "kwd_attrs", "rest"})
_PRIMITIVE_IN = {ast.Constant: frozenset({"value"}), ast.Global: frozenset({"names"}), ast.Nonlocal: frozenset({"names"})}
_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _fields(cls: type) -> Tuple[str, ...]:
    f = _FIELDS.get(cls)
    if f is None:
        own = _PRIMITIVE_IN.get(cls, frozenset())
        f = _SOURCE_ORDER.get(cls) or tuple(n for n in cls._fields if n not in _SKIP and n not in _PRIMITIVE and n not in own)
        if cls is ast.Dict:
            f = ()  # keys and values interleave: handled in children()
        _FIELDS[cls] = f
    return f


def children(node: ast.AST) -> List[ast.AST]:
    """Child nodes in source order."""
    if type(node) is ast.Dict:
        out: List[ast.AST] = []
        for k, v in zip(node.keys, node.values):
            if k is not None:
                out.append(k)
            out.append(v)
        return out
    out = []
    for name in _fields(type(node)):
        value = getattr(node, name, None)
        if value is None:
            continue
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, ast.AST))
        elif isinstance(value, ast.AST):
            out.append(value)
    return out


def _plan(visitors: Sequence, cls: type) -> tuple:
    """What the walk does at a node of class `cls`: (visit functions, leave functions, descend anyway).

    A visitor may say it ignores a class (`visitor_for(cls)` / `leaver_for(cls)` return None), so
    the walk calls nothing for it there: most nodes are expressions nobody handles, and a Python
    call per node and visitor is most of a walk's cost. A visitor without those methods gets
    every node. One that ignores a node counts as descending into it."""
    visits, leaves, always = [], [], False
    for v in visitors:
        fn = v.visitor_for(cls) if hasattr(v, "visitor_for") else v.on_visit
        if fn is None:
            always = True
        else:
            visits.append(fn)
        fn = v.leaver_for(cls) if hasattr(v, "leaver_for") else v.on_leave
        if fn is not None:
            leaves.append(fn)
    return tuple(visits), tuple(leaves), always


_FIELDS_REVERSED: Dict[type, Tuple[str, ...]] = {}


def walk(root: ast.AST, visitors: Sequence) -> None:
    plans: Dict[type, tuple] = {}
    stack: List[object] = [root]
    push, pop = stack.append, stack.pop
    reversed_fields = _FIELDS_REVERSED
    AST = ast.AST
    while stack:
        node = pop()
        cls = type(node)
        if cls is tuple:  # (node, its leave functions): its children are done
            left, leaves = node  # type: ignore[misc]
            for leave in leaves:
                leave(left)
            continue
        plan = plans.get(cls)
        if plan is None:
            plan = plans[cls] = _plan(visitors, cls)
        visits, leaves, descend = plan
        for visit in visits:
            if visit(node) is not False:
                descend = True
        if leaves:
            push((node, leaves))
        if not descend:
            continue
        if cls is ast.Dict:
            stack.extend(reversed(children(node)))  # type: ignore[arg-type]
            continue
        names = reversed_fields.get(cls)
        if names is None:
            names = reversed_fields[cls] = tuple(reversed(_fields(cls)))
        for name in names:  # children pushed last-first, so they pop in source order
            value = getattr(node, name, None)
            if value is None:
                continue
            if type(value) is list:
                for child in reversed(value):
                    if isinstance(child, AST):
                        push(child)
            elif isinstance(value, AST):
                push(value)
