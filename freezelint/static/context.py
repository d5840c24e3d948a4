"""Per-file state shared by all rules during the single rule traversal."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Type

import libcst as cst

from freezelint.static.facts import K_MODULE, K_TENSOR, Binding, FileFacts, Kind, Scope, dotted_name
from freezelint.static.rules.base import Report, Rule


def isinstance_guards(test: cst.CSTNode, facts: FileFacts, scope: Scope) -> Dict[str, Kind]:
    """Names that `test` proves to be Modules or tensors: `isinstance(m, nn.BatchNorm2d)`."""
    out: Dict[str, Kind] = {}
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        out.update(isinstance_guards(test.left, facts, scope))
        out.update(isinstance_guards(test.right, facts, scope))
        return out
    if not (
        isinstance(test, cst.Call)
        and isinstance(test.func, cst.Name)
        and test.func.value == "isinstance"
        and len(test.args) == 2
        and isinstance(test.args[0].value, cst.Name)
    ):
        return out
    classes = test.args[1].value
    elems = [e.value for e in classes.elements] if isinstance(classes, cst.Tuple) else [classes]
    kinds = set()
    for cls in elems:
        qual = facts.qualified(cls, scope)
        last = (qual or dotted_name(cls) or "").rsplit(".", 1)[-1]
        if qual and qual.startswith("torch.nn.") and last[:1].isupper():
            kinds.add("tensor" if last in ("Parameter", "Buffer") else "module")
        elif qual in ("torch.Tensor",):
            kinds.add("tensor")
        elif facts.is_module_class(last):
            kinds.add("module")
        else:
            return {}
    if kinds == {"module"}:
        out[test.args[0].value.value] = K_MODULE
    elif kinds == {"tensor"}:
        out[test.args[0].value.value] = K_TENSOR
    return out


def loop_target_kinds(loop: cst.For, ctx: "FileContext") -> Dict[str, Kind]:
    """Inside a for-loop body, its target names are what this loop yields, whatever
    other loops elsewhere in the scope bind to the same names."""
    out: Dict[str, Kind] = {}

    def walk(target, path):
        if isinstance(target, cst.Name):
            b = Binding(loop.iter, ctx.scope, iterate=True, path=path)
            out[target.value] = ctx.facts._binding_kind(b)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for i, el in enumerate(target.elements):
                if not isinstance(el, cst.StarredElement):
                    walk(el.value, path + (i,))

    walk(loop.target, ())
    assigned = ctx.facts.assigned_in_loop.get(id(loop), ())
    return {n: k for n, k in out.items() if n not in assigned and k.tag != "neutral"}


class FileContext:
    def __init__(self, path: str, module: cst.Module, facts: FileFacts, settings: Optional[dict] = None):
        self.path = path
        self.module = module
        self.facts = facts
        self.settings = settings or {}
        self.reports: List[Report] = []
        self.scope_stack: List[Scope] = [facts.module_scope]
        self.statement_stack: List[cst.CSTNode] = []
        self.guard_stack: List[Tuple[Scope, Dict[str, Kind]]] = []

    # where we are
    @property
    def scope(self) -> Scope:
        return self.scope_stack[-1]

    def current_statement(self) -> Optional[cst.CSTNode]:
        return self.statement_stack[-1] if self.statement_stack else None

    def guards(self) -> Dict[str, Kind]:
        """Kinds proven where we are: isinstance() tests and the innermost for-loop targets."""
        merged: Dict[str, Kind] = {}
        for scope, g in self.guard_stack:
            if scope is self.scope:
                merged.update(g)
        return merged

    # questions rules ask
    def kind_of(self, expr: cst.CSTNode) -> Kind:
        return self.facts.kind_of(expr, self.scope, self.guards() or None)

    def is_module(self, expr: cst.CSTNode) -> bool:
        return self.kind_of(expr).is_module()

    def qualified(self, expr: cst.CSTNode) -> Optional[str]:
        return self.facts.qualified(expr, self.scope)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


class RuleRunner(cst.CSTVisitor):
    """Runs every selected rule's visit_/leave_ methods in one traversal."""

    def __init__(self, ctx: FileContext, rule_classes: Sequence[Type[Rule]]):
        self.ctx = ctx
        self.rules = [cls(ctx) for cls in rule_classes]
        self._visit: Dict[str, list] = {}
        self._leave: Dict[str, list] = {}
        for rule in self.rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    self._visit.setdefault(attr[6:], []).append(getattr(rule, attr))
                elif attr.startswith("leave_"):
                    self._leave.setdefault(attr[6:], []).append(getattr(rule, attr))
        self._guarded: List[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        ctx = self.ctx
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            ctx.scope_stack.append(ctx.facts.scope_of.get(id(node), ctx.scope))
        elif isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            ctx.statement_stack.append(node)
        elif isinstance(node, cst.IndentedBlock):
            parent = ctx.current_statement()
            if isinstance(parent, cst.If) and parent.body is node:
                ctx.guard_stack.append((ctx.scope, isinstance_guards(parent.test, ctx.facts, ctx.scope)))
                self._guarded.append(node)
            elif isinstance(parent, cst.For) and parent.body is node:
                ctx.guard_stack.append((ctx.scope, loop_target_kinds(parent, ctx)))
                self._guarded.append(node)
        for fn in self._visit.get(type(node).__name__, ()):
            fn(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        for fn in self._leave.get(type(original_node).__name__, ()):
            fn(original_node)
        ctx = self.ctx
        if isinstance(original_node, (cst.FunctionDef, cst.Lambda)):
            ctx.scope_stack.pop()
        elif isinstance(original_node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            ctx.statement_stack.pop()
        elif self._guarded and self._guarded[-1] is original_node:
            self._guarded.pop()
            ctx.guard_stack.pop()
