"""Per-file state shared by all rules during the single rule traversal."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Sequence, Tuple, Type, Union

from freezelint.static.parse.astutil import SourceText, dotted_name
from freezelint.static.semantic.facts import Binding, FileFacts, Kind, Scope, isinstance_guards, narrowing_test
from freezelint.static.semantic.kinds import K_MODULE, K_TENSOR, UNKNOWN
from freezelint.static.rules.base import Report, Rule


def loop_target_kinds(loop: ast.For, facts: FileFacts, scope: Scope) -> Dict[str, Kind]:
    """Inside a for-loop body, its target names are what this loop yields, whatever
    other loops elsewhere in the scope bind to the same names."""
    out: Dict[str, Kind] = {}

    def visit(target, path):
        if isinstance(target, ast.Name):
            b = Binding(loop.iter, scope, iterate=True, path=path)
            out[target.id] = facts._binding_kind(b)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, el in enumerate(target.elts):
                if not isinstance(el, ast.Starred):
                    visit(el, path + (i,))

    visit(loop.target, ())
    assigned = facts.assigned_in_loop.get(id(loop), ())
    for n, k in out.items():
        if k == UNKNOWN:  # `for layer in model: layer.eval()`: what the scope calls on it may say
            out[n] = facts.duck_name(n, scope) or k
    return {n: k for n, k in out.items() if n not in assigned and k.tag != "neutral"}


class _LoopGuards:
    """A for-loop's target kinds, worked out when a rule first asks for a kind inside its body
    (most loop bodies hold nothing a rule asks about)."""

    __slots__ = ("loop", "facts", "scope", "_kinds")

    def __init__(self, loop: ast.For, facts: FileFacts, scope: Scope):
        self.loop, self.facts, self.scope = loop, facts, scope
        self._kinds: Optional[Dict[str, Kind]] = None

    def kinds(self) -> Dict[str, Kind]:
        if self._kinds is None:
            self._kinds = loop_target_kinds(self.loop, self.facts, self.scope)
        return self._kinds


class FileContext:
    def __init__(self, path: str, module: ast.Module, facts: FileFacts, source: SourceText, settings: Optional[dict] = None):
        self.path = path
        self.module = module
        self.facts = facts
        self.source = source
        self.settings = settings or {}
        self.reports: List[Report] = []
        self.scope_stack: List[Scope] = [facts.module_scope]
        self.statement_stack: List[ast.stmt] = []
        self.guard_stack: List[Tuple[Scope, Union[Dict[str, Kind], "_LoopGuards"]]] = []

    # where we are
    @property
    def scope(self) -> Scope:
        return self.scope_stack[-1]

    def current_statement(self) -> Optional[ast.stmt]:
        return self.statement_stack[-1] if self.statement_stack else None

    def guards(self) -> Dict[str, Kind]:
        """Kinds proven where we are: isinstance() tests and the innermost for-loop targets."""
        merged: Dict[str, Kind] = {}
        for scope, g in self.guard_stack:
            if scope is self.scope:
                merged.update(g if type(g) is dict else g.kinds())
        return merged

    # questions rules ask
    def kind_of(self, expr: ast.AST) -> Kind:
        return self.facts.kind_of(expr, self.scope, self.guards() or None)

    def is_module(self, expr: ast.AST) -> bool:
        return self.kind_of(expr).is_module()

    def qualified(self, expr: ast.AST) -> Optional[str]:
        return self.facts.qualified(expr, self.scope)

    def code(self, node: ast.AST) -> str:
        return self.source.segment(node)


class RuleRunner:
    """Runs every selected rule's visit_/leave_ methods in one traversal."""

    def __init__(self, ctx: FileContext, rule_classes: Sequence[Type[Rule]]):
        self.ctx = ctx
        self.rules = [cls(ctx) for cls in rule_classes]
        self.active: Optional[Tuple[object, ast.AST]] = None  # the rule method running now, and its node
        self._visit: Dict[str, list] = {}
        self._leave: Dict[str, list] = {}
        for rule in self.rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    self._visit.setdefault(attr[6:], []).append(getattr(rule, attr))
                elif attr.startswith("leave_"):
                    self._leave.setdefault(attr[6:], []).append(getattr(rule, attr))
        # id(body list's first statement) -> guards that hold from there on (if bodies, for bodies)
        self._guard_starts: Dict[int, Dict[str, Kind]] = {}
        self._guard_ends: Dict[int, int] = {}  # id(last statement of a guarded body) -> how many to pop
        self._visit_by_type: Dict[type, tuple] = {}
        self._leave_by_type: Dict[type, tuple] = {}

    def visitor_for(self, cls: type):
        """What the walk calls at a `cls` node: nothing for an expression class no rule visits."""
        if _role(cls) or self._visit.get(cls.__name__):
            return self.on_visit
        return None

    def leaver_for(self, cls: type):
        role = _role(cls)
        if (role and role != _MODULE) or self._leave.get(cls.__name__):
            return self.on_leave
        return None

    def on_visit(self, node: ast.AST) -> bool:
        cls = type(node)
        role = _ROLE.get(cls)
        if role is None:
            role = _ROLE[cls] = _role_of(cls)
        if role:  # statements, scopes and the module; most nodes are expressions and skip all this
            ctx = self.ctx
            if role != _LAMBDA and role != _MODULE:
                g = self._guard_starts.pop(id(node), None)
                if g is not None:
                    ctx.guard_stack.append((ctx.scope, g))
            if role == _FUNCTION or role == _LAMBDA:
                ctx.scope_stack.append(ctx.facts.scope_of.get(id(node), ctx.scope))
                if role == _FUNCTION:
                    self._narrowing_guards(node.body)
            elif role == _MODULE:
                self._narrowing_guards(node.body)
            else:
                ctx.statement_stack.append(node)
                if role == _COMPOUND:
                    for block in _blocks(node):
                        self._narrowing_guards(block)
                    if cls is ast.If and node.body:
                        self._guard_body(node.body, isinstance_guards(node.test, ctx.facts, ctx.scope))
                    elif cls is ast.For and node.body:
                        self._guard_body(node.body, _LoopGuards(node, ctx.facts, ctx.scope))
        handlers = self._visit_by_type.get(cls)
        if handlers is None:
            handlers = self._visit_by_type[cls] = tuple(self._visit.get(cls.__name__, ()))
        for fn in handlers:
            self.active = (fn, node)  # what an internal error names: the rule and the position
            fn(node)
        return True

    def _narrowing_guards(self, block: List[ast.stmt]) -> None:
        """`if not isinstance(x, nn.Linear): raise ...`: below it, in the same block, x is that class."""
        for i, stmt in enumerate(block[:-1]):
            test = narrowing_test(stmt)
            if test is not None:
                guards = isinstance_guards(test, self.ctx.facts, self.ctx.scope)
                bindings = self.ctx.scope.bindings
                # a name bound again below the check is another value there: the check says nothing of it
                guards = {n: k for n, k in guards.items()
                          if not any(getattr(b.target, "lineno", 0) > stmt.lineno for b in bindings.get(n, ()))}
                if guards:
                    self._guard_body(block[i + 1 :], guards)

    def _guard_body(self, body: List[ast.stmt], guards: Union[Dict[str, Kind], "_LoopGuards"]) -> None:
        self._guard_starts[id(body[0])] = guards
        self._guard_ends[id(body[-1])] = self._guard_ends.get(id(body[-1]), 0) + 1

    def on_leave(self, node: ast.AST) -> None:
        cls = type(node)
        handlers = self._leave_by_type.get(cls)
        if handlers is None:
            handlers = self._leave_by_type[cls] = tuple(self._leave.get(cls.__name__, ()))
        for fn in handlers:
            self.active = (fn, node)
            fn(node)
        role = _ROLE[cls]
        if not role or role == _MODULE:
            return
        ctx = self.ctx
        if role == _FUNCTION or role == _LAMBDA:
            ctx.scope_stack.pop()
        else:
            ctx.statement_stack.pop()
        if role != _LAMBDA:
            for _ in range(self._guard_ends.pop(id(node), 0)):
                ctx.guard_stack.pop()


def _blocks(stmt: ast.stmt) -> List[List[ast.stmt]]:
    """The statement lists directly inside a compound statement."""
    out = [getattr(stmt, name) for name in ("body", "orelse", "finalbody") if isinstance(getattr(stmt, name, None), list)]
    out += [h.body for h in getattr(stmt, "handlers", ())]
    out += [c.body for c in getattr(stmt, "cases", ())]
    return [b for b in out if b and isinstance(b[0], ast.stmt)]


# What a node class is to the runner: 0 an expression (or anything else), then the roles below.
_SIMPLE, _COMPOUND, _FUNCTION, _LAMBDA, _MODULE = 1, 2, 3, 4, 5
_ROLE: Dict[type, int] = {}


def _role(cls: type) -> int:
    role = _ROLE.get(cls)
    if role is None:
        role = _ROLE[cls] = _role_of(cls)
    return role


def _role_of(cls: type) -> int:
    if cls is ast.Module:
        return _MODULE
    if cls is ast.Lambda:
        return _LAMBDA
    if cls in (ast.FunctionDef, ast.AsyncFunctionDef):
        return _FUNCTION
    if issubclass(cls, ast.stmt):
        fields = cls._fields
        return _COMPOUND if ("body" in fields or "handlers" in fields or "cases" in fields) else _SIMPLE
    return 0
