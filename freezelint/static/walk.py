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


def _children(node: cst.CSTNode):
    out = []
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            if not isinstance(value, (cst.BaseParenthesizableWhitespace, cst.MaybeSentinel)):
                out.append(value)
        elif isinstance(value, (tuple, list)):
            out.extend(v for v in value if isinstance(v, cst.CSTNode))
    return out


def walk(root: cst.CSTNode, visitors: Sequence[cst.CSTVisitor]) -> None:
    """Visit `root` depth-first in source order with each visitor in turn."""
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
            stack.extend((child, False) for child in reversed(_children(node)))
