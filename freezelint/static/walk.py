"""One iterative depth-first traversal of a CPython `ast` tree, driving several visitors.

Visitors have `on_visit(node)` (children are skipped when every visitor returns
False) and `on_leave(node)`. It is iterative, so deeply nested code cannot
exhaust the Python stack here.
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
_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _fields(cls: type) -> Tuple[str, ...]:
    f = _FIELDS.get(cls)
    if f is None:
        f = _SOURCE_ORDER.get(cls) or tuple(n for n in cls._fields if n not in _SKIP)
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


_LEAVE = object()  # a marker on the stack: leave the node on top of `path`
_FIELDS_REVERSED: Dict[type, Tuple[str, ...]] = {}


def walk(root: ast.AST, visitors: Sequence) -> None:
    visits = [v.on_visit for v in visitors]
    leaves = [v.on_leave for v in visitors]
    stack: List[object] = [root]
    path: List[ast.AST] = []
    push, pop = stack.append, stack.pop
    reversed_fields = _FIELDS_REVERSED
    AST = ast.AST
    while stack:
        node = pop()
        if node is _LEAVE:
            left = path.pop()
            for leave in leaves:
                leave(left)
            continue
        descend = False
        for visit in visits:
            if visit(node) is not False:
                descend = True
        push(_LEAVE)
        path.append(node)
        if not descend:
            continue
        cls = type(node)
        if cls is ast.Dict:
            stack.extend(reversed(children(node)))
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
