"""What a call means on a `flow` timeline: the call events of `flow_events.Builder`.

`CallEvents.call_event` runs when the walk leaves a call (after the calls nested
in it): freeze/unfreeze, eval/train, optimizer construction, wrappers, backward,
step, zero_grad, grad switches, training runs, forwards and models handed on.
Calls of same-file functions and methods are followed one level (`_splice`):
the helper's events are re-targeted through the call's arguments.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional

from freezelint.static.parse.astutil import arg, bool_literal, dotted_name, method_name
from freezelint.static.semantic.facts import Scope
from freezelint.static.semantic.evidence import is_optimizer_class
from freezelint.static.flow.timeline import (
    _OPTIMIZER_CLASSES, ADD_GROUP, BACKWARD, EVAL, FORWARD, FREEZE, GRAD_OFF, GRAD_ON, OPT, PASS, PEFT, RUN, STEP, TRAIN,
    UNFREEZE, WRAP, ZERO_GRAD, Timeline, _normalize, segments,
)
from freezelint.static.flow.params import call_args, params_over

_WRAPPERS = {
    "DistributedDataParallel": "DistributedDataParallel",
    "FullyShardedDataParallel": "FullyShardedDataParallel",
    "fully_shard": "fully_shard",
}
_PEFT_WRAPPERS = frozenset({"get_peft_model", "PeftModel", "PeftModelForCausalLM", "PeftModelForSeq2SeqLM", "PeftMixedModel"})
_NOT_USES = frozenset({
    "print", "len", "isinstance", "hasattr", "getattr", "setattr", "type", "id", "str", "repr", "list",
    "tuple", "dict", "set", "sorted", "enumerate", "zip", "range", "filter", "map", "sum", "any", "all",
    "super", "iter", "next", "format",
})
_FREEZE_HELPER_PREFIXES = ("freeze", "_freeze")
_UNFREEZE_HELPER_PREFIXES = ("unfreeze", "_unfreeze")


def _arg_values(call: ast.Call) -> List[ast.expr]:
    return [v for v, _, _ in call_args(call)]


class CallEvents:
    """Mixin of `flow_events.Builder`: the events of one call."""

    def call_event(self, node: ast.Call) -> None:
        func = node.func
        m = method_name(node)
        if m is not None:
            if self._method_event(node, m, func.value):
                return
        qual = self.facts.qualified(func, self.scope) or ""
        last = qual.rsplit(".", 1)[-1] if qual else (dotted_name(func) or "").rsplit(".", 1)[-1]
        if (qual or isinstance(func, ast.Name)) and last != "Optimizer" and is_optimizer_class(qual, last, _OPTIMIZER_CLASSES):
            return self._optimizer(node)
        if not qual and isinstance(func, ast.Name) and self._names_optimizer_class(func):
            return self._optimizer(node)  # `optimizer_class = torch.optim.AdamW` (or `bnb.optim.AdamW8bit`) ... `optimizer_class(...)`
        if last in _WRAPPERS and (qual.startswith("torch.") or last == "fully_shard"):
            return self._wrap(node, _WRAPPERS[last], [arg(node, 0, "module")])
        if qual == "torch.compile":
            return self._wrap(node, "torch.compile", [arg(node, 0, "model")])
        if qual.startswith("peft.") and (last in _PEFT_WRAPPERS or (last == "from_pretrained" and "Peft" in qual)):
            return self._peft(node)
        if qual == "deepspeed.initialize":
            return self._wrap(node, "deepspeed.initialize", [arg(node, 1, "model")])
        if last == "set_grad_enabled" and qual.startswith("torch.") and self._is_statement(node):
            flag = bool_literal(arg(node, 0, "mode"))
            if flag is not None:
                self.add(GRAD_ON if flag else GRAD_OFF, node)
            return
        if isinstance(func, ast.Name) and not qual and _looks_like_training(func.id):
            self.add(RUN, node)
            self._pass(node)
            return
        if isinstance(func, (ast.Name, ast.Attribute)) and not qual:
            k = self.facts.kind_of(func, self.scope)
            if k.is_module() or (isinstance(func, ast.Name) and k.tag == "unknown" and self.facts.lookup(func.id, self.scope)):
                path = self.path_of(func)
                if path:
                    self.add(FORWARD, node, target=path)
                    return
        if qual in ("torch.autograd.backward",):
            self.add(BACKWARD, node, value=arg(node, 0, "tensors"))
            return
        if isinstance(func, ast.Name):
            self._function_call(node, func.id)
        self._pass(node)

    def _pass(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _NOT_USES:
            return
        names = tuple(p for p in (self.path_of(v) for v in _arg_values(node) if isinstance(v, (ast.Name, ast.Attribute))) if p)
        if names:
            self.add(PASS, node, names=names)

    def _method_event(self, node: ast.Call, m: str, recv: ast.expr) -> bool:
        args = _arg_values(node)
        if m == "requires_grad_":
            a = arg(node, 0, "requires_grad")
            flag = True if a is None else bool_literal(a)
            if flag is not None:
                self._set_requires_grad(recv, flag, node)
            return True
        if m == "eval" and not args:
            return self._mode(node, recv, False)
        if m == "train":
            a = arg(node, 0, "mode")
            flag = True if a is None else bool_literal(a)
            return self._mode(node, recv, flag)
        if m == "backward":
            if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Name) and recv.func.id == "super":
                return True
            rn = (dotted_name(recv) or "").rsplit(".", 1)[-1].lower()
            if args and any(w in rn for w in ("accelerator", "fabric", "engine")):
                value = arg(node, 0, "loss")
            else:
                value = recv
                if isinstance(recv, ast.Call) and method_name(recv) == "scale" and _arg_values(recv):
                    value = _arg_values(recv)[0]
            self.add(BACKWARD, node, value=value)
            return True
        if m == "manual_backward":
            self.add(BACKWARD, node, value=arg(node, 0, "loss"))
            return True
        if m == "step":
            name = dotted_name(recv)
            if name and "scaler" in name.rsplit(".", 1)[-1].lower():
                if args:
                    self.add(STEP, node, name=dotted_name(args[0]))
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
            self._wrap(node, "accelerator.prepare", [v for v, kw, _ in call_args(node) if kw is None])
            return True
        if m in ("freeze", "unfreeze", "make_trainable"):
            kind = FREEZE if m == "freeze" else UNFREEZE
            if self._follow_method(node, m, recv):
                return True
            if m in self.facts.functions and not args:
                self.add(kind, node, target=None)  # this file's own `freeze` on an instance we cannot place
                return True
            target_expr = arg(node, 0, "modules") if args else recv
            path = self.path_of(target_expr) if target_expr is not None else None
            if path is not None:
                self.add(kind, node, target=path)
                if m == "freeze" and not args:
                    self.add(EVAL, node, target=path)  # LightningModule.freeze()
            return True
        if m.startswith(("freeze_", "unfreeze_")) and m != "unfreeze_and_add_param_group":
            if self._follow_method(node, m, recv):
                return True
            # `model.freeze_feature_encoder()`: a freeze of something inside the receiver we cannot name
            self.add(FREEZE if m.startswith("freeze_") else UNFREEZE, node, target=None)
            return True
        if m == "apply" and len(node.args) == 1 and not node.keywords and self._apply(node, recv, node.args[0]):
            return True
        if m in ("fit",) or m.startswith(("train_", "fit_")):
            self.add(RUN, node)
            return False
        return self._follow_method(node, m, recv)

    def _mode(self, node: ast.Call, recv: ast.expr, flag: Optional[bool]) -> bool:
        path = self.path_of(recv)
        if path is None and isinstance(recv, ast.Call) and self.assign_targets:
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

    def _names_optimizer_class(self, name: ast.Name) -> bool:
        """Every binding reaching `name` is an optimizer class (`cls = torch.optim.AdamW if ... else bnb.optim.AdamW8bit`)."""
        bindings = self.facts.bindings_at(name, self.scope)
        if not bindings or any(b.expr is None or b.iterate or b.path for b in bindings):
            return False
        for b in bindings:
            arms = [b.expr.body, b.expr.orelse] if isinstance(b.expr, ast.IfExp) else [b.expr]
            for a in arms:
                qual = self.facts.qualified(a, self.scope) or ""
                if not is_optimizer_class(qual, qual.rsplit(".", 1)[-1], _OPTIMIZER_CLASSES):
                    return False
        return True

    def _optimizer(self, node: ast.Call) -> None:
        params = arg(node, 0, "params")
        over = tuple(params_over(self, params)) if params is not None else ()
        name = None
        if self.assign_targets and len(self.assign_targets[-1]) == 1:
            name = dotted_name(self.assign_targets[-1][0])
        self.add(OPT, node, name=name, over=over)

    def _wrap(self, node: ast.Call, kind: str, args: List[Optional[ast.expr]]) -> None:
        names = [self.path_of(a) for a in args if a is not None]
        if self.assign_targets:
            for t in self.assign_targets[-1]:
                elems = [e.value if isinstance(e, ast.Starred) else e for e in t.elts] if isinstance(t, (ast.Tuple, ast.List)) else [t]
                names.extend(self.path_of(e) for e in elems)
        names = tuple(n for n in names if n)
        if names:
            self.add(WRAP, node, name=kind, names=names)

    def _peft(self, node: ast.Call) -> None:
        """PEFT wraps the model and freezes every base parameter (all but `modules_to_save` and the adapters)."""
        base = arg(node, 0, "model")
        names = []
        if self.assign_targets:
            names = [self.path_of(t) for t in self.assign_targets[-1] if isinstance(t, (ast.Name, ast.Attribute))]
        self.add(PEFT, node, target=self.path_of(base) if base is not None else None,
                 names=tuple(n for n in names if n), value=arg(node, 1, "peft_config"))
        self._pass(node)

    def _is_statement(self, node: ast.Call) -> bool:
        stmt = self.stmts[-1] if self.stmts else None
        return isinstance(stmt, ast.Expr) and stmt.value is node

    def _function_call(self, node: ast.Call, fname: str) -> None:
        defs = self.facts.functions.get(fname)
        if defs and len(defs) == 1 and self.follow and defs[0] is not self.tl.node:
            scope = self.facts.scope_of.get(id(defs[0]))
            if scope is not None and scope.class_name is None:
                self._splice(node, defs[0], scope, {})
                return
        low = fname.lower()
        if defs:
            return
        if self._project_effects(node, fname):
            return
        if any(w in low for w in ("bn", "norm", "stat")):
            return  # `freeze_bn(model)`: about BatchNorm mode/statistics, not (only) requires_grad
        args = _arg_values(node)
        # From here on the helper is known by its name alone (no body, no summary): `via` says so,
        # and rules give no advice that rests on what it does to the whole module (FRZ106's eval()).
        if low.startswith(_UNFREEZE_HELPER_PREFIXES) and args:
            path = self.path_of(args[0])
            if path:
                self.add(UNFREEZE, node, target=path, via=fname)
        elif low.startswith(_FREEZE_HELPER_PREFIXES) and args:
            path = self.path_of(args[0])
            if path:
                self.add(FREEZE, node, target=path, via=fname)
        elif low in ("set_requires_grad", "requires_grad", "set_trainable", "toggle_grad") and len(args) >= 2:
            flag = bool_literal(args[1])
            path = self.path_of(args[0])
            if flag is not None and path:
                self.add(UNFREEZE if flag else FREEZE, node, target=path, via=fname)
        elif _looks_like_training(fname):
            self.add(RUN, node)

    def _project_effects(self, node: ast.Call, fname: str) -> bool:
        """A helper defined in another file of the project: apply its summary (what it freezes,
        unfreezes, puts in eval/train below each of its parameters) at this call."""
        project = self.facts.project
        qual = self.facts.qualified(node.func, self.scope) or fname
        effects = project.function_effects(qual)
        if not effects:
            return False
        args = _arg_values(node)
        for index, below, kind in effects:
            path = self.path_of(args[index]) if index < len(args) else None
            if path:
                self._summary_event(node, path, below, kind, fname)
        return True

    def _summary_event(self, node: ast.Call, path: str, below: str, kind: str, via: str) -> None:
        """One effect of a summary (freeze/unfreeze/eval/train of `below` under `path`) as an event here."""
        target = f"{path}.{below}" if below else path
        ev = {"freeze": FREEZE, "unfreeze": UNFREEZE, "eval": EVAL, "train": TRAIN}[kind]
        if ev == TRAIN:
            self.add(TRAIN, node, target=target, mode=True, via=via)
        else:
            self.add(ev, node, target=target, via=via)

    def _follow_method(self, node: ast.Call, m: str, recv: ast.expr) -> bool:
        """`self.freeze_encoder()` or `model.freeze()` on an instance of a class of this file
        (its events spliced here), or of a project class whose method summary says what it does."""
        if not self.follow:
            return False
        defs = self.facts.functions.get(m)
        if not defs or len(defs) != 1 or defs[0] is self.tl.node:
            return self._project_method(node, m, recv)
        scope = self.facts.scope_of.get(id(defs[0]))
        if scope is None or scope.class_name is None:
            return self._project_method(node, m, recv)
        if isinstance(recv, ast.Name) and recv.id == "self" and self.scope.class_name == scope.class_name:
            self._splice(node, defs[0], scope, {"self": "self"})
            return True
        k = self.facts.kind_of(recv, self.scope)
        path = self.path_of(recv)
        if path and k.is_module() and k.detail == scope.class_name:
            self._splice(node, defs[0], scope, {"self": path})
            return True
        return self._project_method(node, m, recv)

    def _project_method(self, node: ast.Call, m: str, recv: ast.expr) -> bool:
        """A method of a project class (its bases may be in other files): apply its summary below the receiver."""
        if isinstance(recv, ast.Name) and recv.id == "self":
            cls = self.scope.class_name
            if cls is None:
                return False
            name = f"{self.facts.module_name}.{cls}" if self.facts.module_name else cls
        else:
            k = self.facts.kind_of(recv, self.scope)
            if not k.is_module() or not isinstance(k.detail, str):
                return False
            name = k.detail
        effects = self.facts.project.class_table.method_effects(name, m)
        path = self.path_of(recv)
        if not effects or not path:
            return False
        for below, kind in effects:
            self._summary_event(node, path, below, kind, m)
        return True

    def _splice(self, call: ast.Call, fdef: ast.AST, scope: Scope, mapping: Dict[str, str], apply: bool = False) -> None:
        """Place a helper's events at this call site, its parameters replaced by our arguments (`apply`: the
        mapping is given, and only its freezes and mode switches count)."""
        sub = self.flow.timeline(fdef, follow=False)
        params = [p[0] for p in scope.params]
        offset = 1 if mapping.get("self") else 0
        positional = [v for v, kw, star in call_args(call) if kw is None and not star]
        for i, v in enumerate(positional if not apply else ()):
            if i + offset < len(params):
                p = self.path_of(v)
                if p:
                    mapping[params[i + offset]] = p
        for v, kw, _ in call_args(call) if not apply else ():
            if kw is not None:
                p = self.path_of(v)
                if p:
                    mapping[kw] = p
        local = set(scope.bindings)
        for ev in sub.events:
            if apply and ev.kind not in (FREEZE, UNFREEZE, EVAL, TRAIN):
                continue
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
                via=fdef.name,
            )
            if ev.branches:
                new.branches = new.branches + ((id(fdef), id(fdef)),)
            if ev.grad and not new.grad:
                new.grad = ev.grad


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


def _is_optimizer_name(name: str, tl: Timeline) -> bool:
    if any(e.kind == OPT and e.name == name for e in tl.events):
        return True
    last = name.rsplit(".", 1)[-1].lower()
    if "sched" in last or "lr" in last.split("_"):
        return False
    return (last in ("opt", "optim", "optimizer", "optimiser") or last.startswith(("optim", "opt_"))
            or last.endswith(("_opt", "_optim", "_optimizer", "optimizer")))
