"""Event extraction for `flow`: one read-only walk over a scope's own statements.

`Builder` records, in source order, the freeze-relevant events of one function
body or module top level into a `flow.Timeline` (see `flow.py` for the
vocabulary). It resolves receivers to attribute paths through loop variables
(`for p in model.backbone.parameters()`), single-assignment aliases and
self-returning calls (`model.to(device).eval()`) (`flow_paths.py`). What each
call means, and the one-level following of same-file helpers, is in `flow_calls.py`.

Event order: an assignment's own events (requires_grad set, train replaced,
head) come when the statement is entered, before those of the calls in its
value; a call's event comes after those of the calls nested in it.
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from freezelint.static.parse.astutil import bool_literal, dotted_name, ends_in_exit
from freezelint.static.semantic.facts import Scope
from freezelint.static.flow.timeline import FREEZE, HEAD, NO_GRAD_MODES, TRAIN_REPLACED, UNFREEZE, Event, Timeline, segments
from freezelint.static.flow.apply import ApplyEvents
from freezelint.static.flow.calls import CallEvents
from freezelint.static.flow.params import grad_mode_of
from freezelint.static.flow.paths import Paths, _LoopVar, _unstar
from freezelint.static.parse.walk import children

_NOT_PARAM_SEGMENTS = frozenset({"grad", "data", "T", "mT"})
_PARAMLESS = frozenset(
    {
        "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ReLU", "GELU", "SiLU", "Sigmoid", "Tanh",
        "Softmax", "LogSoftmax", "Flatten", "Unflatten", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "AdaptiveMaxPool2d", "MaxPool2d", "AvgPool2d", "LeakyReLU", "Hardswish", "Mish", "ELU", "Tanhshrink",
    }
)
# Scopes of their own: they have timelines of their own.
_NOT_ENTERED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


# A work item of the walk: a node to enter, or (callback, argument) to run when it is reached.
_Item = object


class Builder(CallEvents, ApplyEvents, Paths):
    def __init__(self, flow, tl: Timeline, scope: Scope, follow: bool):
        self.flow = flow
        self.facts = flow.facts
        self.tl = tl
        self.scope = scope
        self.follow = follow
        self.loops: List[int] = []
        self.branches: List[Tuple[int, int]] = []  # (if/except/match id, arm id)
        self.guards: List[ast.expr] = []
        self.grad: List[Optional[str]] = [None]
        self.stmts: List[ast.stmt] = []
        self.loopvars: List[Dict[str, _LoopVar]] = []
        self.assign_targets: List[Sequence[ast.expr]] = []
        self._alias_depth = 0

    # -- events
    def add(self, kind: str, node: ast.AST, **kw) -> Event:
        ev = Event(
            kind,
            node,
            self.stmts[-1] if self.stmts else None,
            len(self.tl.events),
            loops=tuple(self.loops),
            branches=tuple(self.branches),
            guards=tuple(self.guards),
            grad=self.grad[-1],
            **kw,
        )
        self.tl.events.append(ev)
        return ev

    # -- the walk (iterative: deeply nested code cannot exhaust the Python stack)
    def run(self, body: List[ast.stmt]) -> None:
        stack: List[_Item] = list(reversed(body))
        while stack:
            item = stack.pop()
            if type(item) is tuple:
                item[0](self, item[1])
                continue
            node = item
            if isinstance(node, _NOT_ENTERED):
                continue
            enter = _ENTER.get(type(node))
            if enter is None and isinstance(node, ast.stmt):
                self.stmts.append(node)  # a simple statement
                stack.append((Builder._leave_simple, node))
            seq = enter(self, node) if enter is not None else None
            leave = _LEAVE.get(type(node))
            if leave is not None:
                stack.append((leave, node))
            stack.extend(reversed(seq if seq is not None else children(node)))

    def _leave_simple(self, node) -> None:
        self.stmts.pop()

    # -- structure
    def _enter_if(self, node: ast.If) -> List[_Item]:
        # `elif` is an `if` alone in the outer if's `orelse`: taken as `else: if`, its arms are the
        # outer's else arm then its own, so every arm of the chain excludes every other (flow.exclusive)
        self.stmts.append(node)
        self.branches.append((id(node), id(node.body)))
        self.guards.append(node.test)
        seq: List[_Item] = [node.test, *node.body, (Builder._leave_if_body, node)]
        if node.orelse:
            seq += [(Builder._enter_else, node), *node.orelse, (Builder._leave_else, node)]
        return seq

    def _leave_if_body(self, node: ast.If) -> None:
        if self.branches and self.branches[-1][1] == id(node.body) and ends_in_exit(node.body):
            self.tl.terminated.add(id(node.body))  # an `if` body that returns or raises

    def _enter_else(self, node: ast.If) -> None:
        if self.branches:
            self.branches[-1] = (self.branches[-1][0], id(node.orelse))  # the enclosing if's other arm

    def _leave_else(self, node: ast.If) -> None:
        if ends_in_exit(node.orelse):
            self.tl.terminated.add(id(node.orelse))

    def _leave_if(self, node) -> None:
        self.stmts.pop()
        self.branches.pop()
        self.guards.pop()

    def _enter_branch(self, node) -> None:  # IfExp, except handler, match: one arm each
        self.branches.append((id(node), id(node)))

    def _leave_branch(self, node) -> None:
        self.branches.pop()

    def _leave_handler(self, node: ast.ExceptHandler) -> None:
        if ends_in_exit(node.body):
            self.tl.terminated.add(id(node))
        self.branches.pop()

    def _enter_stmt(self, node) -> None:  # while, try
        self.stmts.append(node)
        if isinstance(node, ast.While):
            self.loops.append(id(node))

    def _leave_stmt(self, node) -> None:
        self.stmts.pop()
        if isinstance(node, ast.While):
            self.loops.pop()

    def _enter_for(self, node: ast.For) -> None:
        self.stmts.append(node)
        self.loops.append(id(node))
        self.loopvars.append(self._bind_loop(node.target, node.iter))

    def _leave_for(self, node) -> None:
        self.stmts.pop()
        self.loops.pop()
        self.loopvars.pop()

    def _enter_with(self, node: ast.With) -> None:
        self.stmts.append(node)
        mode = self.grad[-1]
        for item in node.items:
            m = grad_mode_of(self.facts, item.context_expr, self.scope)
            if m is not None:
                mode = m if m != "enable_grad" else None
        self.grad.append(mode)

    def _leave_with(self, node) -> None:
        self.stmts.pop()
        self.grad.pop()

    # comprehensions: `[p.requires_grad_(False) for p in model.parameters()]`
    def _enter_comp(self, node) -> None:
        # only the single-`for`, no-`if` form freezes every element
        f = node.generators[0]
        lv = self._bind_loop(f.target, f.iter)
        if f.ifs or len(node.generators) > 1:
            for v in lv.values():
                v.whole = False
        self.loopvars.append(lv)

    def _leave_comp(self, node) -> None:
        self.loopvars.pop()


    # -- assignments
    def _enter_assign(self, node: ast.Assign) -> None:
        self._enter_simple(node)
        self.assign_targets.append(node.targets)
        for tgt in node.targets:
            self._record_assigned(tgt)
            if isinstance(tgt, ast.Attribute) and tgt.attr == "requires_grad":
                flag = bool_literal(node.value)
                # on a Module the attribute does nothing (FRZ001): not a freeze
                if flag is not None and not self._is_module_expr(tgt.value):
                    self._set_requires_grad(tgt.value, flag, tgt)
            elif isinstance(tgt, ast.Attribute) and tgt.attr == "train":
                path = self.path_of(tgt.value)  # `vae.train = disabled_train`: train() replaced
                if path:
                    self.add(TRAIN_REPLACED, tgt, target=path)
            elif isinstance(tgt, (ast.Attribute, ast.Subscript)):
                self._maybe_head(tgt, node.value)

    def _leave_assign(self, node) -> None:
        self.assign_targets.pop()
        self.stmts.pop()

    def _enter_annassign(self, node: ast.AnnAssign) -> None:
        self._enter_simple(node)
        self.assign_targets.append([node.target])
        self._record_assigned(node.target)

    def _enter_augassign(self, node: ast.AugAssign) -> None:
        self._enter_simple(node)
        self._record_assigned(node.target)

    def _enter_simple(self, node: ast.stmt) -> None:
        self.stmts.append(node)

    def _record_assigned(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.tl.assigned.setdefault(target.id, []).append(self.grad[-1] in NO_GRAD_MODES)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for el in target.elts:
                self._record_assigned(_unstar(el))

    def _is_module_expr(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            lv = self._loopvar(expr.id)
            if lv is not None:
                return lv.role == "mod"
        return self.facts.kind_of(expr, self.scope).is_module()

    def _maybe_head(self, target: ast.expr, value: ast.expr) -> None:
        path = self.path_of(target)
        if path is None:
            return
        segs = segments(path)
        if len(segs) < (3 if segs[0] == "self" else 2):
            return
        if not isinstance(value, ast.Call):
            return
        k = self.facts.kind_of(value, self.scope)
        if not k.is_module():
            return
        qual = self.facts.qualified(value.func, self.scope) or dotted_name(value.func) or ""
        if qual.rsplit(".", 1)[-1] in _PARAMLESS:
            return
        self.add(HEAD, target, target=path)

    # -- requires_grad changes
    def _set_requires_grad(self, receiver: ast.expr, flag: bool, node: ast.AST) -> None:
        kind = FREEZE if not flag else UNFREEZE
        if isinstance(receiver, ast.Name):
            lv = self._loopvar(receiver.id)
            if lv is not None:
                if lv.role in ("param", "mod") and lv.path:
                    whole = lv.whole and len(self.guards) == lv.guard_depth
                    for path in (lv.path,) + lv.also:
                        self.add(kind, node, target=path, whole=whole, name_var=lv.name_var)
                return
        path = self.path_of(receiver)
        if path is not None and not _NOT_PARAM_SEGMENTS & set(segments(path)[1:]):
            self.add(kind, node, target=path, whole=True)


# type -> what entering it does (None from a handler: walk the default children); leaving it
_ENTER: Dict[type, Callable] = {
    ast.If: Builder._enter_if,
    ast.IfExp: Builder._enter_branch,
    ast.ExceptHandler: Builder._enter_branch,
    ast.While: Builder._enter_stmt,
    ast.Try: Builder._enter_stmt,
    ast.For: Builder._enter_for,
    ast.AsyncFor: Builder._enter_for,
    ast.With: Builder._enter_with,
    ast.AsyncWith: Builder._enter_with,
    ast.ListComp: Builder._enter_comp,
    ast.GeneratorExp: Builder._enter_comp,
    ast.SetComp: Builder._enter_comp,
    ast.Assign: Builder._enter_assign,
    ast.AnnAssign: Builder._enter_annassign,
    ast.AugAssign: Builder._enter_augassign,
}
_LEAVE: Dict[type, Callable] = {
    ast.If: Builder._leave_if,
    ast.IfExp: Builder._leave_branch,
    ast.ExceptHandler: Builder._leave_handler,
    ast.While: Builder._leave_stmt,
    ast.Try: Builder._leave_stmt,
    ast.For: Builder._leave_for,
    ast.AsyncFor: Builder._leave_for,
    ast.With: Builder._leave_with,
    ast.AsyncWith: Builder._leave_with,
    ast.ListComp: Builder._leave_comp,
    ast.GeneratorExp: Builder._leave_comp,
    ast.SetComp: Builder._leave_comp,
    ast.Assign: Builder._leave_assign,
    ast.AnnAssign: Builder._leave_assign,
    ast.AugAssign: Builder._leave_simple,
    ast.Call: CallEvents.call_event,
}
if hasattr(ast, "Match"):  # Python 3.10+
    _ENTER[ast.Match] = Builder._enter_branch
    _LEAVE[ast.Match] = Builder._leave_branch
if hasattr(ast, "TryStar"):  # Python 3.11+
    _ENTER[ast.TryStar] = Builder._enter_stmt
    _LEAVE[ast.TryStar] = Builder._leave_stmt
