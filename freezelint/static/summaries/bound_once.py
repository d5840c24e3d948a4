"""The names a scope binds exactly once, and to which call (`summaries.call_sites` asks, per scope, when first needed).

`x = Net(cfg)` then `f(x)`: the argument is what `Net(cfg)` returns when nothing else binds `x` in that
scope (a second assignment, a loop target, a `with ... as x`, an import, `global x`, a `del x`; `:=` where
the file has one). Statements only, through compound statements, not into nested functions or classes.
"""

from __future__ import annotations

import ast
from typing import Dict, Optional

from freezelint.static.summaries.functions import statements


class Once:
    """A scope's names bound exactly once, by `name = <call>` (worked out when first asked)."""

    __slots__ = ("body", "shadow", "walrus", "_table")

    def __init__(self, body, shadow=(), walrus=True):
        self.body = body
        self.shadow = shadow  # its parameters: not the enclosing scopes' names
        self.walrus = walrus
        self._table: Optional[Dict[str, Optional[ast.AST]]] = None

    def table(self) -> Dict[str, Optional[ast.AST]]:
        if self._table is None:
            self._table = bound_once(self.body, self.walrus)
            for p in self.shadow:
                self._table[p] = None
        return self._table


def bound_once(body, walrus=True) -> Dict[str, Optional[ast.AST]]:
    """Names bound in this scope (not in nested functions or classes): name -> the call it is bound to, when it is
    bound exactly once, by `name = <call>`; names bound otherwise or more than once map to None. Statements
    only (their targets); `walrus`: the names some `:=` of the file binds (found in its text: bound more than once
here, to be safe), or True to walk every expression for them."""
    count: Dict[str, int] = {}
    value: Dict[str, ast.AST] = {}

    def bind(target: Optional[ast.AST], times: int = 1) -> None:
        if target is None:
            return
        if isinstance(target, ast.Name):
            count[target.id] = count.get(target.id, 0) + times
        elif isinstance(target, (ast.Tuple, ast.List)):
            for e in target.elts:
                bind(e, times)
        elif isinstance(target, ast.Starred):
            bind(target.value, times)

    for st in statements(body):
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            count[st.name] = count.get(st.name, 0) + 2
        elif isinstance(st, ast.Assign):
            for t in st.targets:
                bind(t)
            if len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) and isinstance(st.value, ast.Call):
                value[st.targets[0].id] = st.value
        elif isinstance(st, (ast.AugAssign, ast.AnnAssign)):
            bind(st.target, 2)
        elif isinstance(st, (ast.For, ast.AsyncFor)):
            bind(st.target, 2)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                bind(item.optional_vars, 2)
        elif isinstance(st, (ast.Global, ast.Nonlocal)):
            for name in st.names:
                count[name] = count.get(name, 0) + 2
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            for a in st.names:
                name = (a.asname or a.name).split(".")[0]
                count[name] = count.get(name, 0) + 2
        elif isinstance(st, ast.Delete):
            for t in st.targets:
                bind(t, 2)
        elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
            for h in st.handlers:
                if h.name:
                    count[h.name] = count.get(h.name, 0) + 2
        elif type(st).__name__ == "Match":
            for case in st.cases:
                for n in ast.walk(case.pattern):
                    for name in (getattr(n, "name", None), getattr(n, "rest", None)):
                        if isinstance(name, str):
                            count[name] = count.get(name, 0) + 2
        if walrus is True:
            for n in ast.walk(st) if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else ():
                if isinstance(n, ast.NamedExpr):
                    bind(n.target, 2)
    for name in walrus if walrus is not True else ():
        count[name] = count.get(name, 0) + 2
    return {name: (value.get(name) if c == 1 else None) for name, c in count.items()}
