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


def walk(root: ast.AST, visitors: Sequence) -> None:
    stack: List[Tuple[ast.AST, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            for v in visitors:
                v.on_leave(node)
            continue
        descend = False
        for v in visitors:
            if v.on_visit(node) is not False:
                descend = True
        stack.append((node, True))
        if descend:
            stack.extend((child, False) for child in reversed(children(node)))
