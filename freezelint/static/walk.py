"""A read-only traversal of a libcst tree, several times faster than `Module.visit`.

libcst's own `visit` rebuilds (and re-validates) every node on the way back
up, even for a visitor that changes nothing; on real code that costs about six
parses. Linting only reads the tree, so this walks the dataclass fields
directly and skips whitespace, comments and punctuation, which no rule looks
at. It drives ordinary `CSTVisitor`s: `on_visit(node)` (children are skipped
when it returns False) and `on_leave(node)`. It is iterative, so deeply
nested code cannot exhaust the Python stack here.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Sequence, Tuple

import libcst as cst

# Fields that hold only whitespace, comments or punctuation.
_SKIP = frozenset(
    {
        "lpar",
        "rpar",
        "comma",
        "semicolon",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "newline",
        "dot",
        "equal",
        "colon",
        "star",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "whitespace",
        "trailing_whitespace",
        "operator",
        "asynchronous",
        "walrus",
        "arrow",
        "default_newline",
        "default_indent",
        "encoding",
        "has_trailing_newline",
        "indent",
    }
)

_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _child_fields(cls: type) -> Tuple[str, ...]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in _SKIP and not f.name.startswith("whitespace")
        )
        _FIELDS[cls] = fields
    return fields


# Where libcst's own `visit` order (source order) differs from field order.
_SOURCE_ORDER: Dict[type, Tuple[str, ...]] = {
    cst.IfExp: ("body", "test", "orelse"),
    cst.Arg: ("keyword", "value"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.Parameters: ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.TypeAlias: ("name", "type_parameters", "value"),
}


# type -> 1: a child node, 2: a sequence that may hold child nodes, 0: neither.
# (An ABC isinstance check per field costs more than the rest of the walk.)
_KIND: Dict[type, int] = {}
_IS_NODE: Dict[type, bool] = {}


def _kind(t: type) -> int:
    k = _KIND.get(t)
    if k is None:
        if issubclass(t, cst.CSTNode):
            k = 0 if issubclass(t, cst.BaseParenthesizableWhitespace) else 1
        elif issubclass(t, (tuple, list)):
            k = 2
        else:
            k = 0
        _KIND[t] = k
    return k


def _children(node: cst.CSTNode, order: Dict[type, Tuple[str, ...]] = {}):
    out = []
    kinds = _KIND
    for name in order.get(type(node)) or _child_fields(type(node)):
        value = getattr(node, name)
        k = kinds.get(type(value))
        if k is None:
            k = _kind(type(value))
        if k == 1:
            out.append(value)
        elif k == 2:
            for v in value:
                t = type(v)
                is_node = _IS_NODE.get(t)
                if is_node is None:
                    is_node = _IS_NODE[t] = issubclass(t, cst.CSTNode)
                if is_node:
                    out.append(v)
    return out


def walk(root: cst.CSTNode, visitors: Sequence[cst.CSTVisitor], source_order: bool = False) -> None:
    """Visit `root` depth-first with each visitor in turn.

    Children come in field order, which is source order except for a few nodes
    (`a if t else b`, `f(k=v)`, decorators); `source_order=True` follows libcst's
    own `visit` order for those too (for visitors whose results depend on order).
    """
    order = _SOURCE_ORDER if source_order else {}
    stack = [(root, False)]
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
            stack.extend((child, False) for child in reversed(_children(node, order)))
