"""Event extraction for `flow`: one read-only walk over a scope's own statements.

`Builder` records, in source order, the freeze-relevant events of one function
body or module top level into a `flow.Timeline` (see `flow.py` for the
vocabulary). It resolves receivers to attribute paths through loop variables
(`for p in model.backbone.parameters()`), single-assignment aliases and
self-returning calls (`model.to(device).eval()`), and follows calls of
same-file functions and methods one level (`_splice`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import libcst as cst

from freezelint.static.facts import FileFacts, Scope, dotted_name
from freezelint.static.flow import (
    ADD_GROUP, ALL, BACKWARD, EVAL, FILTER, FORWARD, FREEZE, GRAD_OFF, GRAD_ON, HEAD, NO_GRAD_MODES, OPT, PASS, RUN,
    STEP, SUBSET, TRAIN, TRAIN_REPLACED, UNFREEZE, WRAP, ZERO_GRAD, Event, Timeline, _normalize, arg, bool_literal, method_name,
    mentions, segments, string_value, _OPTIMIZER_CLASSES,
)

SELF_RETURNING = frozenset(
    {"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "bfloat16", "requires_grad_", "type", "to_empty", "xpu", "mps"}
)
_NOT_PARAM_SEGMENTS = frozenset({"grad", "data", "T", "mT"})
_PARAMLESS = frozenset(
    {
        "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ReLU", "GELU", "SiLU", "Sigmoid", "Tanh",
        "Softmax", "LogSoftmax", "Flatten", "Unflatten", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "AdaptiveMaxPool2d", "MaxPool2d", "AvgPool2d", "LeakyReLU", "Hardswish", "Mish", "ELU", "Tanhshrink",
    }
)
_WRAPPERS = {
    "DistributedDataParallel": "DistributedDataParallel",
    "FullyShardedDataParallel": "FullyShardedDataParallel",
    "fully_shard": "fully_shard",
}
_NOT_USES = frozenset({"print", "len", "isinstance", "hasattr", "getattr", "setattr", "type", "id", "str", "repr", "list", "tuple", "dict", "set", "sorted", "enumerate", "zip", "range", "filter", "map", "sum", "any", "all", "super", "iter", "next", "format"})
_FREEZE_HELPER_PREFIXES = ("freeze", "_freeze")
_UNFREEZE_HELPER_PREFIXES = ("unfreeze", "_unfreeze")


@dataclass
class _LoopVar:
    role: str  # "param" (a Parameter of path), "mod" (a Module at path), "pname" (name of a param/module)
    path: Optional[str]
    whole: bool
    guard_depth: int
    name_var: Optional[str] = None


class Builder(cst.CSTVisitor):
    def __init__(self, flow, tl: Timeline, scope: Scope, follow: bool):
        self.flow = flow
        self.facts = flow.facts
        self.tl = tl
        self.scope = scope
        self.follow = follow
        self.loops: List[int] = []
        self.branches: List[Tuple[int, int]] = []  # (if/except/match id, arm id)
        self.guards: List[cst.CSTNode] = []
        self.grad: List[Optional[str]] = [None]
        self.stmts: List[cst.CSTNode] = []
        self.loopvars: List[Dict[str, _LoopVar]] = []
        self.assign_targets: List[Sequence[cst.CSTNode]] = []
        self._alias_depth = 0

    # -- events
    def add(self, kind: str, node: cst.CSTNode, **kw) -> Event:
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

    # -- scopes we do not enter
    def visit_FunctionDef(self, node) -> bool:
        return False

    def visit_ClassDef(self, node) -> bool:
        return False

    def visit_Lambda(self, node) -> bool:
        return False

    # -- structure
    def visit_SimpleStatementLine(self, node) -> None:
        self.stmts.append(node)

    def leave_SimpleStatementLine(self, node) -> None:
        self.stmts.pop()

    def visit_If(self, node: cst.If) -> None:
        outer = self.stmts[-1] if self.stmts else None
        if isinstance(outer, cst.If) and outer.orelse is node and self.branches:
            self.branches[-1] = (id(outer), id(node))  # `elif`: the outer if's other arm
        self.stmts.append(node)
        self.branches.append((id(node), id(node.body)))
        self.guards.append(node.test)

    def visit_Else(self, node: cst.Else) -> None:
        if self.branches:
            self.branches[-1] = (self.branches[-1][0], id(node))  # the enclosing if's other arm

    def leave_Else(self, node: cst.Else) -> None:
        if _ends_in_exit(node.body):
            self.tl.terminated.add(id(node))

    def leave_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if self.branches and self.branches[-1][1] == id(node) and _ends_in_exit(node):
            self.tl.terminated.add(id(node))  # an `if` body that returns or raises

    def leave_If(self, node) -> None:
        self.stmts.pop()
        self.branches.pop()
        self.guards.pop()

    def visit_IfExp(self, node) -> None:
        self.branches.append((id(node), id(node)))

    def leave_IfExp(self, node) -> None:
        self.branches.pop()

    def visit_ExceptHandler(self, node) -> None:
        self.branches.append((id(node), id(node)))

    def leave_ExceptHandler(self, node) -> None:
        if _ends_in_exit(node.body):
            self.tl.terminated.add(id(node))
        self.branches.pop()

    def visit_Match(self, node) -> None:
        self.branches.append((id(node), id(node)))

    def leave_Match(self, node) -> None:
        self.branches.pop()

    def visit_While(self, node) -> None:
        self.stmts.append(node)
        self.loops.append(id(node))

    def leave_While(self, node) -> None:
        self.stmts.pop()
        self.loops.pop()

    def visit_For(self, node: cst.For) -> None:
        self.stmts.append(node)
        self.loops.append(id(node))
        self.loopvars.append(self._bind_loop(node.target, node.iter))

    def leave_For(self, node) -> None:
        self.stmts.pop()
        self.loops.pop()
        self.loopvars.pop()

    def visit_With(self, node: cst.With) -> None:
        self.stmts.append(node)
        mode = self.grad[-1]
        for item in node.items:
            m = grad_mode_of(self.facts, item.item, self.scope)
            if m is not None:
                mode = m if m != "enable_grad" else None
        self.grad.append(mode)

    def leave_With(self, node) -> None:
        self.stmts.pop()
        self.grad.pop()

    def visit_Try(self, node) -> None:
        self.stmts.append(node)

    def leave_Try(self, node) -> None:
        self.stmts.pop()

    # comprehensions: `[p.requires_grad_(False) for p in model.parameters()]`
    def visit_ListComp(self, node) -> None:
        self._enter_comp(node)

    def leave_ListComp(self, node) -> None:
        self.loopvars.pop()

    def visit_GeneratorExp(self, node) -> None:
        self._enter_comp(node)

    def leave_GeneratorExp(self, node) -> None:
        self.loopvars.pop()

    def visit_SetComp(self, node) -> None:
        self._enter_comp(node)

    def leave_SetComp(self, node) -> None:
        self.loopvars.pop()

    def _enter_comp(self, node) -> None:
        # only the single-`for`, no-`if` form freezes every element
        f = node.for_in
        lv = self._bind_loop(f.target, f.iter)
        if f.ifs or f.inner_for_in is not None:
            for v in lv.values():
                v.whole = False
        self.loopvars.append(lv)

    # -- loop variables
    def _bind_loop(self, target: cst.CSTNode, it: cst.CSTNode) -> Dict[str, _LoopVar]:
        out: Dict[str, _LoopVar] = {}
        whole = True
        # unwrap list(...)/enumerate(...)/tuple(...), slices
        while True:
            if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value in ("list", "tuple", "reversed") and it.args:
                it = it.args[0].value
            elif isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "enumerate" and it.args:
                it = it.args[0].value
                if isinstance(target, cst.Tuple) and len(target.elements) == 2:
                    target = target.elements[1].value
                else:
                    return out
            elif isinstance(it, cst.Subscript):
                whole = False
                it = it.value
            else:
                break
        depth = len(self.guards)
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute):
            m = it.func.attr.value
            base = self.path_of(it.func.value)
            if m in ("parameters",) and isinstance(target, cst.Name):
                out[target.value] = _LoopVar("param", base, whole, depth)
            elif m in ("modules", "children") and isinstance(target, cst.Name):
                out[target.value] = _LoopVar("mod", base + ".*" if base else None, whole, depth)
            elif m in ("named_parameters", "named_modules", "named_children") and isinstance(target, cst.Tuple) and len(target.elements) == 2:
                n, v = target.elements[0].value, target.elements[1].value
                if isinstance(v, cst.Name):
                    role = "param" if m == "named_parameters" else "mod"
                    path = base if m == "named_parameters" else (base + ".*" if base else None)
                    nv = n.value if isinstance(n, cst.Name) else None
                    out[v.value] = _LoopVar(role, path, whole, depth, nv)
                if isinstance(n, cst.Name):
                    out[n.value] = _LoopVar("pname", base, whole, depth)
            return out
        if isinstance(it, (cst.List, cst.Tuple)) and isinstance(target, cst.Name):
            paths = [self.path_of(e.value) for e in it.elements if not isinstance(e, cst.StarredElement)]
            if paths and all(paths):
                common = _common_prefix(paths)
                if common:
                    out[target.value] = _LoopVar("mod", common + ".*" if len(paths) > 1 else paths[0], whole, depth)
            return out
        if isinstance(target, cst.Name):
            base = self.path_of(it)
            if base is not None and self.facts.kind_of(it, self.scope).tag == "container":
                out[target.value] = _LoopVar("mod", base + ".*", whole, depth)
        return out

    def _loopvar(self, name: str) -> Optional[_LoopVar]:
        for frame in reversed(self.loopvars):
            if name in frame:
                return frame[name]
        return None

    # -- paths
    def path_of(self, expr: cst.CSTNode) -> Optional[str]:
        parts = self._parts(expr)
        return _normalize(parts) if parts else None

    def _parts(self, expr: cst.CSTNode) -> Optional[List[str]]:
        if isinstance(expr, cst.Name):
            lv = self._loopvar(expr.value)
            if lv is not None:
                return segments(lv.path) if lv.path and lv.role == "mod" else None
            alias = self._alias(expr)
            return alias if alias is not None else [expr.value]
        if isinstance(expr, cst.Attribute):
            base = self._parts(expr.value)
            return base + [expr.attr.value] if base else None
        if isinstance(expr, cst.Subscript):
            base = self._parts(expr.value)
            if not base or len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
                return None
            idx = expr.slice[0].slice.value
            if isinstance(idx, cst.Integer) or (isinstance(idx, cst.UnaryOperation) and isinstance(idx.expression, cst.Integer)):
                return base + [f"[{self.facts.module.code_for_node(idx)}]"]
            s = string_value(idx)
            if s is not None:
                return base + [s]
            return base + ["*"]
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            m = expr.func.attr.value
            if m in SELF_RETURNING:
                return self._parts(expr.func.value)
            if m == "get_submodule":
                s = string_value(expr.args[0].value) if expr.args else None
                base = self._parts(expr.func.value)
                return base + s.split(".") if base and s else None
        return None

    def _alias(self, name: cst.Name) -> Optional[List[str]]:
        """`backbone = model.backbone` (bound once in this scope) resolves to model.backbone."""
        bindings = self.scope.bindings.get(name.value)
        if not bindings or len(bindings) != 1 or any(p[0] == name.value for p in self.scope.params):
            return None
        b = bindings[0]
        if b.iterate or b.path or b.expr is None or not isinstance(b.expr, (cst.Attribute, cst.Name, cst.Call)):
            return None
        if self._alias_depth > 8:
            return None
        self._alias_depth += 1
        try:
            if isinstance(b.expr, cst.Call):
                # `m = model.to(device)` / `m = model.eval()` keep the path; constructors do not
                if not (isinstance(b.expr.func, cst.Attribute) and b.expr.func.attr.value in SELF_RETURNING):
                    return None
            return self._parts(b.expr)
        finally:
            self._alias_depth -= 1

    # -- assignments
    def visit_Assign(self, node: cst.Assign) -> None:
        self.assign_targets.append([t.target for t in node.targets])
        for t in node.targets:
            self._record_assigned(t.target)
            tgt = t.target
            if isinstance(tgt, cst.Attribute) and tgt.attr.value == "requires_grad":
                flag = bool_literal(node.value)
                # on a Module the attribute does nothing (FRZ001): not a freeze
                if flag is not None and not self._is_module_expr(tgt.value):
                    self._set_requires_grad(tgt.value, flag, tgt)
            elif isinstance(tgt, cst.Attribute) and tgt.attr.value == "train":
                path = self.path_of(tgt.value)  # `vae.train = disabled_train`: train() replaced
                if path:
                    self.add(TRAIN_REPLACED, tgt, target=path)
            elif isinstance(tgt, (cst.Attribute, cst.Subscript)):
                self._maybe_head(tgt, node.value)

    def leave_Assign(self, node) -> None:
        self.assign_targets.pop()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.assign_targets.append([node.target])
        self._record_assigned(node.target)

    def leave_AnnAssign(self, node) -> None:
        self.assign_targets.pop()

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._record_assigned(node.target)

    def _record_assigned(self, target: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            self.tl.assigned.setdefault(target.value, []).append(self.grad[-1] in NO_GRAD_MODES)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._record_assigned(el.value)

    def _is_module_expr(self, expr: cst.CSTNode) -> bool:
        if isinstance(expr, cst.Name):
            lv = self._loopvar(expr.value)
            if lv is not None:
                return lv.role == "mod"
        return self.facts.kind_of(expr, self.scope).is_module()

    def _maybe_head(self, target: cst.CSTNode, value: cst.CSTNode) -> None:
        path = self.path_of(target)
        if path is None:
            return
        segs = segments(path)
        if len(segs) < (3 if segs[0] == "self" else 2):
            return
        if not isinstance(value, cst.Call):
            return
        k = self.facts.kind_of(value, self.scope)
        if not k.is_module():
            return
        qual = self.facts.qualified(value.func, self.scope) or dotted_name(value.func) or ""
        if qual.rsplit(".", 1)[-1] in _PARAMLESS:
            return
        self.add(HEAD, target, target=path)

    # -- requires_grad changes
    def _set_requires_grad(self, receiver: cst.CSTNode, flag: bool, node: cst.CSTNode) -> None:
        kind = FREEZE if not flag else UNFREEZE
        if isinstance(receiver, cst.Name):
            lv = self._loopvar(receiver.value)
            if lv is not None:
                if lv.role in ("param", "mod") and lv.path:
                    whole = lv.whole and len(self.guards) == lv.guard_depth
                    self.add(kind, node, target=lv.path, whole=whole, name_var=lv.name_var)
                return
        path = self.path_of(receiver)
        if path is not None and not _NOT_PARAM_SEGMENTS & set(segments(path)[1:]):
            self.add(kind, node, target=path, whole=True)

    # -- calls
    def leave_Call(self, node: cst.Call) -> None:
        func = node.func
        m = method_name(node)
        if m is not None:
            if self._method_event(node, m, func.value):
                return
        qual = self.facts.qualified(func, self.scope) or ""
        last = qual.rsplit(".", 1)[-1] if qual else (dotted_name(func) or "").rsplit(".", 1)[-1]
        if qual.startswith("torch.optim.") and last[:1].isupper() and "lr_scheduler" not in qual and last != "Optimizer":
            return self._optimizer(node)
        if last in _OPTIMIZER_CLASSES and (qual or isinstance(func, cst.Name)):
            return self._optimizer(node)
        if last in _WRAPPERS and (qual.startswith("torch.") or last == "fully_shard"):
            return self._wrap(node, _WRAPPERS[last], [arg(node, 0, "module")])
        if qual == "torch.compile":
            return self._wrap(node, "torch.compile", [arg(node, 0, "model")])
        if qual == "deepspeed.initialize":
            return self._wrap(node, "deepspeed.initialize", [arg(node, 1, "model")])
        if last == "set_grad_enabled" and qual.startswith("torch.") and self._is_statement(node):
            flag = bool_literal(arg(node, 0, "mode"))
            if flag is not None:
                self.add(GRAD_ON if flag else GRAD_OFF, node)
            return
        if isinstance(func, cst.Name) and not qual and _looks_like_training(func.value):
            self.add(RUN, node)
            self._pass(node)
            return
        if isinstance(func, (cst.Name, cst.Attribute)) and not qual:
            k = self.facts.kind_of(func, self.scope)
            if k.is_module() or (isinstance(func, cst.Name) and k.tag == "unknown" and self.facts.lookup(func.value, self.scope)):
                path = self.path_of(func)
                if path:
                    self.add(FORWARD, node, target=path)
                    return
        if qual in ("torch.autograd.backward",):
            self.add(BACKWARD, node, value=arg(node, 0, "tensors"))
            return
        if isinstance(func, cst.Name):
            self._function_call(node, func.value)
        self._pass(node)

    def _pass(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in _NOT_USES:
            return
        names = tuple(p for p in (self.path_of(a.value) for a in node.args if isinstance(a.value, (cst.Name, cst.Attribute))) if p)
        if names:
            self.add(PASS, node, names=names)

    def _method_event(self, node: cst.Call, m: str, recv: cst.CSTNode) -> bool:
        if m == "requires_grad_":
            a = arg(node, 0, "requires_grad")
            flag = True if a is None else bool_literal(a)
            if flag is not None:
                self._set_requires_grad(recv, flag, node)
            return True
        if m == "eval" and not node.args:
            return self._mode(node, recv, False)
        if m == "train":
            a = arg(node, 0, "mode")
            flag = True if a is None else bool_literal(a)
            return self._mode(node, recv, flag)
        if m == "backward":
            if isinstance(recv, cst.Call) and isinstance(recv.func, cst.Name) and recv.func.value == "super":
                return True
            rn = (dotted_name(recv) or "").rsplit(".", 1)[-1].lower()
            if node.args and any(w in rn for w in ("accelerator", "fabric", "engine")):
                value = arg(node, 0, "loss")
            else:
                value = recv
                if isinstance(recv, cst.Call) and method_name(recv) == "scale" and recv.args:
                    value = recv.args[0].value
            self.add(BACKWARD, node, value=value)
            return True
        if m == "manual_backward":
            self.add(BACKWARD, node, value=arg(node, 0, "loss"))
            return True
        if m == "step":
            name = dotted_name(recv)
            if name and "scaler" in name.rsplit(".", 1)[-1].lower():
                if node.args:
                    self.add(STEP, node, name=dotted_name(node.args[0].value))
                return True
            if name and _is_optimizer_name(name, self.tl):
                self.add(STEP, node, name=name)
                return True
            return False
        if m == "zero_grad":
            a = arg(node, 0, "set_to_none")
            self.add(ZERO_GRAD, node, name=dotted_name(recv), mode=bool_literal(a) if a is not None else None)
            return True
        if m == "add_param_group":
            self.add(ADD_GROUP, node, name=dotted_name(recv))
            return True
        if m == "unfreeze_and_add_param_group":
            mods = arg(node, 0, "modules")
            path = self.path_of(mods) if mods is not None else None
            self.add(UNFREEZE, node, target=path)
            self.add(ADD_GROUP, node, name=dotted_name(arg(node, 1, "optimizer") or recv))
            return True
        if m in ("prepare", "prepare_model") and "accelerator" in (dotted_name(recv) or "").lower():
            self._wrap(node, "accelerator.prepare", [a.value for a in node.args if a.keyword is None])
            return True
        if m in ("freeze", "unfreeze", "make_trainable"):
            kind = FREEZE if m == "freeze" else UNFREEZE
            if self._follow_method(node, m, recv):
                return True
            if m in self.facts.functions and not node.args:
                self.add(kind, node, target=None)  # this file's own `freeze` on an instance we cannot place
                return True
            target_expr = arg(node, 0, "modules") if node.args else recv
            path = self.path_of(target_expr) if target_expr is not None else None
            if path is not None:
                self.add(kind, node, target=path)
                if m == "freeze" and not node.args:
                    self.add(EVAL, node, target=path)  # LightningModule.freeze()
            return True
        if m.startswith(("freeze_", "unfreeze_")) and m != "unfreeze_and_add_param_group":
            if self._follow_method(node, m, recv):
                return True
            # `model.freeze_feature_encoder()`: a freeze of something inside the receiver we cannot name
            self.add(FREEZE if m.startswith("freeze_") else UNFREEZE, node, target=None)
            return True
        if m in ("fit",) or m.startswith(("train_", "fit_")):
            self.add(RUN, node)
            return False
        return self._follow_method(node, m, recv)

    def _mode(self, node: cst.Call, recv: cst.CSTNode, flag: Optional[bool]) -> bool:
        path = self.path_of(recv)
        if path is None and isinstance(recv, cst.Call) and self.assign_targets:
            targets = self.assign_targets[-1]
            path = self.path_of(targets[0]) if len(targets) == 1 else None
        if path is None:
            return True
        k = self.facts.kind_of(recv, self.scope)
        if k.tag in ("other", "tensor", "optimizer", "ref"):
            return True
        if flag is False:
            self.add(EVAL, node, target=path)
        else:
            self.add(TRAIN, node, target=path, mode=flag)
        return True

    def _optimizer(self, node: cst.Call) -> None:
        params = arg(node, 0, "params")
        over = tuple(params_over(self, params)) if params is not None else ()
        name = None
        if self.assign_targets and len(self.assign_targets[-1]) == 1:
            name = dotted_name(self.assign_targets[-1][0])
        self.add(OPT, node, name=name, over=over)

    def _wrap(self, node: cst.Call, kind: str, args: List[Optional[cst.CSTNode]]) -> None:
        names = [self.path_of(a) for a in args if a is not None]
        if self.assign_targets:
            for t in self.assign_targets[-1]:
                elems = [e.value for e in t.elements] if isinstance(t, (cst.Tuple, cst.List)) else [t]
                names.extend(self.path_of(e) for e in elems)
        names = tuple(n for n in names if n)
        if names:
            self.add(WRAP, node, name=kind, names=names)

    def _is_statement(self, node: cst.Call) -> bool:
        stmt = self.stmts[-1] if self.stmts else None
        return isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Expr) and small.value is node for small in stmt.body
        )

    def _function_call(self, node: cst.Call, fname: str) -> None:
        defs = self.facts.functions.get(fname)
        if defs and len(defs) == 1 and self.follow and defs[0] is not self.tl.node:
            scope = self.facts.scope_of.get(id(defs[0]))
            if scope is not None and scope.class_name is None:
                self._splice(node, defs[0], scope, {})
                return
        low = fname.lower()
        if defs:
            return
        if any(w in low for w in ("bn", "norm", "stat")):
            return  # `freeze_bn(model)`: about BatchNorm mode/statistics, not (only) requires_grad
        if low.startswith(_UNFREEZE_HELPER_PREFIXES) and node.args:
            path = self.path_of(node.args[0].value)
            if path:
                self.add(UNFREEZE, node, target=path)
        elif low.startswith(_FREEZE_HELPER_PREFIXES) and node.args:
            path = self.path_of(node.args[0].value)
            if path:
                self.add(FREEZE, node, target=path)
        elif low in ("set_requires_grad", "requires_grad", "set_trainable", "toggle_grad") and len(node.args) >= 2:
            flag = bool_literal(node.args[1].value)
            path = self.path_of(node.args[0].value)
            if flag is not None and path:
                self.add(UNFREEZE if flag else FREEZE, node, target=path)
        elif _looks_like_training(fname):
            self.add(RUN, node)

    def _follow_method(self, node: cst.Call, m: str, recv: cst.CSTNode) -> bool:
        """`self.freeze_encoder()` or `model.freeze()` on an instance of a class of this file."""
        if not self.follow:
            return False
        defs = self.facts.functions.get(m)
        if not defs or len(defs) != 1 or defs[0] is self.tl.node:
            return False
        scope = self.facts.scope_of.get(id(defs[0]))
        if scope is None or scope.class_name is None:
            return False
        if isinstance(recv, cst.Name) and recv.value == "self" and self.scope.class_name == scope.class_name:
            self._splice(node, defs[0], scope, {"self": "self"})
            return True
        k = self.facts.kind_of(recv, self.scope)
        path = self.path_of(recv)
        if path and k.is_module() and k.detail == scope.class_name:
            self._splice(node, defs[0], scope, {"self": path})
            return True
        return False

    def _splice(self, call: cst.Call, fdef: cst.FunctionDef, scope: Scope, mapping: Dict[str, str]) -> None:
        """Place a helper's events at this call site, its parameters replaced by our arguments."""
        sub = self.flow.timeline(fdef, follow=False)
        params = [p[0] for p in scope.params]
        positional = [a for a in call.args if a.keyword is None and not a.star]
        offset = 1 if mapping.get("self") else 0
        for i, a in enumerate(positional):
            if i + offset < len(params):
                p = self.path_of(a.value)
                if p:
                    mapping[params[i + offset]] = p
        for a in call.args:
            if a.keyword is not None:
                p = self.path_of(a.value)
                if p:
                    mapping[a.keyword.value] = p
        local = set(scope.bindings)
        for ev in sub.events:
            target = _retarget(ev.target, mapping, local)
            if ev.target is not None and target is None:
                continue
            names = tuple(n for n in (_retarget(x, mapping, local) for x in ev.names) if n)
            over = tuple((_retarget(t, mapping, local), how) for t, how in ev.over)
            name = ev.name
            if ev.kind == OPT and self.assign_targets and len(self.assign_targets[-1]) == 1:
                name = dotted_name(self.assign_targets[-1][0])
            new = self.add(
                ev.kind, call, target=target, whole=ev.whole, name=name, over=over, names=names, mode=ev.mode,
                via=fdef.name.value,
            )
            if ev.branches:
                new.branches = new.branches + ((id(fdef), id(fdef)),)
            if ev.grad and not new.grad:
                new.grad = ev.grad


def _ends_in_exit(block: cst.BaseSuite) -> bool:
    """The block's last statement is a `return` or `raise`: nothing after its `if` runs on that path."""
    body = getattr(block, "body", ())
    last = body[-1] if isinstance(body, (list, tuple)) and body else None
    if isinstance(last, cst.SimpleStatementLine) and last.body:
        return isinstance(last.body[-1], (cst.Return, cst.Raise))
    return False


def _retarget(path: Optional[str], mapping: Dict[str, str], local: set) -> Optional[str]:
    if path is None:
        return None
    segs = segments(path)
    if segs[0] in mapping:
        return _normalize(segments(mapping[segs[0]]) + segs[1:])
    if segs[0] in local:
        return None  # a local of the helper: means nothing at the call site
    return path


def _looks_like_training(fname: str) -> bool:
    low = fname.lower()
    return low.startswith(("train", "fit", "run_train", "finetune", "fine_tune")) or "train_" in low or low.endswith(("_epoch", "_train", "_fit"))


def _common_prefix(paths: List[str]) -> Optional[str]:
    split = [segments(p) for p in paths]
    out = []
    for parts in zip(*split):
        if all(p == parts[0] for p in parts):
            out.append(parts[0])
        else:
            break
    return ".".join(out) if out else None


def _is_optimizer_name(name: str, tl: Timeline) -> bool:
    if any(e.kind == OPT and e.name == name for e in tl.events):
        return True
    last = name.rsplit(".", 1)[-1].lower()
    if "sched" in last or "lr" in last.split("_"):
        return False
    return last in ("opt", "optim", "optimizer", "optimiser") or last.startswith(("optim", "opt_")) or last.endswith(("_opt", "_optim", "_optimizer", "optimizer"))


def grad_mode_of(facts: FileFacts, expr: cst.CSTNode, scope: Scope) -> Optional[str]:
    """'no_grad' / 'inference_mode' / 'enable_grad' for a grad-mode context or decorator, else None."""
    call = expr if isinstance(expr, cst.Call) else None
    func = call.func if call is not None else expr
    qual = facts.qualified(func, scope) or ""
    last = qual.rsplit(".", 1)[-1]
    if not qual.startswith("torch."):
        return None
    if last == "no_grad":
        return "no_grad"
    if last == "enable_grad":
        return "enable_grad"
    if last == "inference_mode":
        a = arg(call, 0, "mode") if call is not None else None
        if a is None or bool_literal(a) is True:
            return "inference_mode"
        return "enable_grad" if bool_literal(a) is False else None
    if last == "set_grad_enabled" and call is not None:
        flag = bool_literal(arg(call, 0, "mode"))
        if flag is False:
            return "no_grad"
        if flag is True:
            return "enable_grad"
    return None


def params_over(b: "Builder", expr: Optional[cst.CSTNode], depth: int = 0):
    """What an optimizer's `params` argument takes: [(module path, ALL/FILTER/SUBSET)], [] if unknown."""
    if expr is None or depth > 4:
        return []
    if isinstance(expr, cst.Call):
        m = method_name(expr)
        if m == "parameters":
            p = b.path_of(expr.func.value)
            return [(p, ALL)] if p else []
        if isinstance(expr.func, cst.Name):
            fn = expr.func.value
            if fn in ("list", "tuple", "iter") and expr.args:
                return params_over(b, expr.args[0].value, depth + 1)
            if fn == "filter" and len(expr.args) == 2:
                how = FILTER if mentions(expr.args[0].value, "requires_grad") else SUBSET
                return [(t, how if h == ALL else h) for t, h in params_over(b, expr.args[1].value, depth + 1)]
        qual = b.facts.qualified(expr.func, b.scope) or ""
        if qual in ("itertools.chain",) or (isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "chain"):
            out = []
            for a in expr.args:
                got = params_over(b, a.value, depth + 1)
                if not got:
                    return []
                out.extend(got)
            return out
        return []
    if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
        f = expr.for_in
        if f.inner_for_in is not None:
            return []
        it = f.iter
        if isinstance(it, cst.Call) and method_name(it) in ("parameters", "named_parameters"):
            p = b.path_of(it.func.value)
            if not p:
                return []
            if not f.ifs:
                return [(p, ALL)]
            if all(mentions(i.test, "requires_grad") for i in f.ifs):
                return [(p, FILTER)]
            return [(p, SUBSET)]
        return []
    if isinstance(expr, (cst.List, cst.Tuple)):
        out = []
        for el in expr.elements:
            v = el.value
            if isinstance(v, cst.Dict):
                got = []
                for de in v.elements:
                    if isinstance(de, cst.DictElement) and string_value(de.key) == "params":
                        got = params_over(b, de.value, depth + 1)
                if not got:
                    return []
                out.extend(got)
            elif isinstance(el, cst.StarredElement):
                got = params_over(b, v, depth + 1)
                if not got:
                    return []
                out.extend(got)
            else:
                return []
        return out
    if isinstance(expr, cst.Name):
        bindings = b.scope.bindings.get(expr.value)
        if bindings and len(bindings) == 1 and not bindings[0].iterate and bindings[0].expr is not None and not bindings[0].path:
            return params_over(b, bindings[0].expr, depth + 1)
    return []
