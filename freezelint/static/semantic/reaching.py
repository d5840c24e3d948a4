"""Which bindings of a name may reach a use of it: flow-sensitive kinds without a second walk.

`scopes.FactsCollector` records, during the one walk it makes, where each binding takes
effect (`Binding.site`, `Binding.how`) and each scope's compound statements. A binding or
a use sits in the arms of the compound statements around it (its *frames*, found from
positions). Binding b reaches use u when:

- forward: b takes effect before u and they are not in exclusive arms (two arms of one
  `if`/`match`; an except handler and a later handler or the `else`), and no binding k
  in between kills it: k runs on every path from b to u when its frames are a prefix of
  u's (k is in u's block or one around it, so nothing can jump over it to u; or k is at
  the top of a try body and u in that try's else);
- or backward, on the next iteration of a loop around both: unless some k in that loop,
  in u's block or one around it, takes effect before u.

Everything else is an over-approximation, never an under-one (an early `return` in an
arm, a `for`/`else` that always binds...): more bindings reach, their kinds join, and a
conflict is UNKNOWN, on which rules stay silent. Names bound in a comprehension are
local to it. Uses from another scope (closures, globals read in functions) see every
binding, as kinds did before they were flow-sensitive.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from freezelint.static.semantic.scopes import COMPREHENSION, HANDLER, LOOP_TARGET, STICKY, STRAIGHT, Binding, Scope

Pos = Tuple[int, int]
Frame = Tuple[int, int, int]  # (id(compound statement), arm, arm kind)
_SCOPE_START: Pos = (0, 0)

# arm kinds
EXCLUSIVE = 0  # if/elif/else, match cases: one arm runs
LOOP = 1  # arm 0: the loop body (and a while loop's test), arm 1: its else
TRY = 2  # arm 0: the body, then the handlers, then the else (finally is no arm: it always runs)
OPAQUE = 3  # a class body, `with suppress(...)`: what it binds kills nothing outside it
TRY_ELSE = 4  # a try statement's else: it runs only when the whole body did

_KILLERS = (STRAIGHT, LOOP_TARGET, HANDLER)
_MATCH = getattr(ast, "Match", ())  # Python 3.10+


def _start(node: ast.AST) -> Pos:
    return (node.lineno, node.col_offset)


def _span(stmts: Sequence[ast.AST], first: Optional[ast.AST] = None) -> Tuple[Pos, Pos]:
    last = stmts[-1]
    return _start(first or stmts[0]), (last.end_lineno, last.end_col_offset)


def _arms(node: ast.AST):
    """(arm index, (start, end), kind) of each arm of a compound statement."""
    if isinstance(node, ast.If):
        yield 0, _span(node.body), EXCLUSIVE
        if node.orelse:
            yield 1, _span(node.orelse), EXCLUSIVE
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
        yield 0, _span(node.body, node.test if isinstance(node, ast.While) else None), LOOP
        if node.orelse:
            yield 1, _span(node.orelse), LOOP
    elif isinstance(node, (ast.ClassDef, ast.With, ast.AsyncWith)):
        yield 0, _span(node.body), OPAQUE
    elif isinstance(node, _MATCH):
        for i, case in enumerate(node.cases):
            yield i, _span(case.body, case.pattern), EXCLUSIVE
    else:  # Try, TryStar
        yield 0, _span(node.body), TRY
        for i, h in enumerate(node.handlers, 1):
            yield i, _span([h]), TRY
        if node.orelse:
            yield len(node.handlers) + 1, _span(node.orelse), TRY_ELSE


def _placed(b: Binding) -> Tuple[Pos, Pos]:
    """(where b takes effect, where it sits for its frames)."""
    site = b.site
    if site is None:
        return _SCOPE_START, _SCOPE_START  # a parameter
    if b.how in (LOOP_TARGET, HANDLER):
        p = _start(site.body[0])
        return p, p
    return (site.end_lineno, site.end_col_offset), _start(site)


def _runs_before(fk: Tuple[Frame, ...], fu: Tuple[Frame, ...]) -> bool:
    """Code with frames fk runs on every path to code with frames fu, when it comes first:
    it is in fu's block or one around it, or at the top of the body of the try whose else fu is in."""
    if len(fk) > len(fu):
        return False
    n = len(fk)
    if fu[:n] == fk:
        return True
    last = fk[-1]
    return fu[: n - 1] == fk[:-1] and last[1] == 0 and last[2] == TRY and fu[n - 1][0] == last[0] and fu[n - 1][2] == TRY_ELSE


def _exclusive(fb: Tuple[Frame, ...], fu: Tuple[Frame, ...]) -> bool:
    """No path goes forward from b's frames to u's without another iteration of a loop."""
    for x, y in zip(fb, fu):
        if x == y:
            continue
        if x[0] != y[0]:
            return False  # sibling statements: one after the other
        if x[2] == EXCLUSIVE:
            return True
        return x[2] == TRY and x[1] != 0  # from a handler to a later handler or the else
    return False


def _common_loop(fb: Tuple[Frame, ...], fu: Tuple[Frame, ...]) -> int:
    """Index of the innermost loop body around both, -1 when none."""
    found = -1
    for i, (x, y) in enumerate(zip(fb, fu)):
        if x != y:
            break
        if x[2] == LOOP and x[1] == 0:
            found = i
    return found


def _in_comprehension(comp: ast.AST, pos: Pos) -> bool:
    if not (_start(comp) <= pos < (comp.end_lineno, comp.end_col_offset)):
        return False
    first = comp.generators[0].iter  # evaluated outside the comprehension
    return not (_start(first) <= pos < (first.end_lineno, first.end_col_offset))


class Reaching:
    """Answers "which of these bindings may reach this use?", cached per scope and position."""

    def __init__(self, compounds: Dict[int, List[ast.AST]], scopes: Iterable[Scope]):
        self._compounds = compounds
        self._scopes = scopes
        self._nested: Optional[Dict[int, List[Tuple[Pos, Pos]]]] = None  # id(scope node) -> spans of scopes inside it
        self._arms: Dict[int, List[Tuple[Pos, Pos, Frame]]] = {}
        self._frames: Dict[Tuple[int, Pos], Tuple[Frame, ...]] = {}

    def directly_in(self, scope_node: ast.AST, pos: Pos) -> bool:
        """`pos` is in that scope's own code, not in a function or lambda nested in it."""
        if self._nested is None:
            self._nested = {}
            for s in self._scopes:
                if s.parent is not None:
                    node = s.node
                    first = node.decorator_list[0] if getattr(node, "decorator_list", None) else node
                    self._nested.setdefault(id(s.parent.node), []).append((_start(first), (node.end_lineno, node.end_col_offset)))
        return not any(start <= pos < end for start, end in self._nested.get(id(scope_node), ()))

    def frames(self, scope_node: ast.AST, pos: Pos) -> Tuple[Frame, ...]:
        """The arms of compound statements around `pos` in that scope, outermost first."""
        key = (id(scope_node), pos)
        got = self._frames.get(key)
        if got is None:
            arms = self._arms.get(id(scope_node))
            if arms is None:
                arms = [
                    (start, end, (id(node), i, kind))
                    for node in self._compounds.get(id(scope_node), ())
                    for i, (start, end), kind in _arms(node)
                ]
                self._arms[id(scope_node)] = arms
            got = self._frames[key] = tuple(f for start, end, f in arms if start <= pos < end)
        return got

    def reaching(self, bindings: List[Binding], dels: Sequence[Binding], use: ast.AST, scope_node: ast.AST) -> List[Binding]:
        """The bindings (all of one name, in the use's own scope) that may reach `use`."""
        if getattr(use, "lineno", None) is None:
            return bindings  # a node made up by a rule: no position, every binding
        own = [b for b in bindings if b.target is use]
        if own:
            return own  # the name being bound here: what this binding gives it
        pos = _start(use)
        if not self.directly_in(scope_node, pos):
            return bindings  # asked from a nested function (a class base, a decorator...): it may run any time
        if any(b.how == COMPREHENSION for b in bindings):
            inside = [b for b in bindings if b.how == COMPREHENSION and _in_comprehension(b.site, pos)]
            if inside:
                innermost = max(inside, key=lambda b: _start(b.site)).site
                return [b for b in inside if b.site is innermost]
            bindings = [b for b in bindings if b.how != COMPREHENSION]
        fu = self.frames(scope_node, pos)
        placed = []
        for b in list(bindings) + list(dels):
            effect, anchor = _placed(b) if b.how != STICKY else (_SCOPE_START, _SCOPE_START)
            placed.append((b, effect, self.frames(scope_node, anchor)))
        killers = [(b, e, f) for b, e, f in placed if b.how in _KILLERS and _runs_before(f, fu) and e <= pos]
        out = []
        for b, effect, fb in placed[: len(bindings)]:
            if b.how == STICKY:
                out.append(b)
            elif effect <= pos and not _exclusive(fb, fu) and not any(k is not b and effect < e for k, e, _ in killers):
                out.append(b)
            else:
                loop = _common_loop(fb, fu)
                if loop >= 0 and not any(k is not b and len(f) > loop for k, e, f in killers):
                    out.append(b)
        return out
