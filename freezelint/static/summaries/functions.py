"""What a function or method does to its parameters, for the per-file summaries (summary.py).

Statements only (a freeze helper's effects are statements): freezes, unfreezes and eval/train
of a path below a parameter (`for p in model.backbone.parameters(): p.requires_grad = False`
is FREEZE of parameter 0's "backbone"), what it returns (a constructor, or its own parameter
for `m.to(device)`-style helpers), and the calls that pass a parameter on, so effects
compose across files in `project.ProjectIndex`. A method's `self` is its parameter 0, and the
methods it calls on `self` are recorded so a class's effects compose through its hierarchy.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from freezelint.static.parse.astutil import bool_literal, dotted_name, positional

FREEZE = "freeze"
UNFREEZE = "unfreeze"
EVAL = "eval"
TRAIN = "train"


_COMPOUND_BODIES = ("body", "orelse", "finalbody")


def statements(body):
    """Every statement in `body`, through compound statements, not into nested defs or classes."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        inner = []
        for name in _COMPOUND_BODIES:
            inner.extend(getattr(stmt, name, ()) or ())
        for h in getattr(stmt, "handlers", ()) or ():
            inner.extend(h.body)
        for c in getattr(stmt, "cases", ()) or ():
            inner.extend(c.body)
        stack.extend(reversed(inner))


@dataclass
class FunctionSummary:
    params: List[str] = field(default_factory=list)
    returns: Optional[str] = None  # the constructor/factory it returns, as written in this file ("nn.Linear")
    returns_param: Optional[int] = None  # returns its own parameter (a `m.to(device)`-style helper)
    returns_also: List[str] = field(default_factory=list)  # the constructors its other `return`s build (a builder's arms)
    # (parameter index, path below it ("" : the parameter itself), FREEZE/UNFREEZE/EVAL/TRAIN)
    effects: List[Tuple[int, str, str]] = field(default_factory=list)
    # (callee as written, {callee param index: (our param index, path below it)})
    passes: List[Tuple[str, Dict[int, Tuple[int, str]]]] = field(default_factory=list)
    self_calls: List[str] = field(default_factory=list)  # a method's `self.<name>(...)` calls (not serialised)


def function_summary(fn, method: bool = False) -> FunctionSummary:
    """Statements only (a freeze helper's effects are statements): expressions are not walked.

    For a `method`, `self` is a parameter like the others (a module-level function's `self`/`cls`
    parameter is not: it is not the instance a caller can name)."""
    a = fn.args
    params = [p.arg for p in list(a.posonlyargs) + list(a.args)] + [p.arg for p in a.kwonlyargs]
    out = FunctionSummary(params=params)
    index = {p: i for i, p in enumerate(params) if method or p not in ("self", "cls")}
    loopvars: Dict[str, Tuple[int, str]] = {}  # `for p in model.x.parameters()` -> p: (param, "x")
    built: Dict[str, str] = {}  # `model = Net(cfg)` -> model: "Net"
    for stmt in statements(fn.body):
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            if isinstance(stmt.target, ast.Name):
                src = _param_iter_source(stmt.iter, index)
                if src is not None:
                    loopvars[stmt.target.id] = src
            mod = _module_iter_source(stmt, index)
            if mod is not None:  # `for m in model.modules()`: m is some module below (the name's path + ".*")
                loopvars[mod[0]] = mod[1]
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            t, value = stmt.targets[0], stmt.value
            if isinstance(t, ast.Name) and isinstance(value, ast.Call) and dotted_name(value.func):
                built.setdefault(t.id, dotted_name(value.func))
            flag = bool_literal(value)
            if flag is not None and isinstance(t, ast.Attribute) and t.attr == "requires_grad":
                if isinstance(t.value, ast.Name) and t.value.id in loopvars and not loopvars[t.value.id][1].endswith("*"):
                    pi, path = loopvars[t.value.id]  # (a module's `requires_grad` attribute freezes nothing)
                    out.effects.append((pi, path, UNFREEZE if flag else FREEZE))
            _calls(out, value, index, loopvars)
        elif isinstance(stmt, ast.Expr):
            _calls(out, stmt.value, index, loopvars)
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            if isinstance(stmt.value, ast.Name) and stmt.value.id in built and stmt.value.id not in index:
                out.returns = out.returns or built[stmt.value.id]
            else:
                _record_return(out, stmt.value, index)
    return out


def _calls(out: FunctionSummary, value: ast.AST, index, loopvars) -> None:
    """A statement's call, and the calls it is chained on (`m.requires_grad_(False).eval()`)."""
    while isinstance(value, ast.Call):
        if isinstance(value.func, ast.Attribute):
            _method_effect(out, value, index, loopvars)
            recv = value.func.value
            if isinstance(recv, ast.Name) and recv.id == "self" and "self" in index:
                out.self_calls.append(value.func.attr)
        _record_pass(out, value, index)
        value = value.func.value if isinstance(value.func, ast.Attribute) else None


def _path_below_param(expr: ast.AST, index: Dict[str, int]) -> Optional[Tuple[int, str]]:
    """`model.backbone.layer1` -> (index of `model`, "backbone.layer1") for a parameter `model`."""
    name = dotted_name(expr)
    if not name:
        return None
    head, _, rest = name.partition(".")
    if head not in index:
        return None
    return index[head], rest


def _module_iter_source(loop: ast.AST, index: Dict[str, int]) -> Optional[Tuple[str, Tuple[int, str]]]:
    """`for m in model.x.modules()` / `for _, m in model.named_modules()` -> ("m", (index of model, "x.*"))."""
    it, target = loop.iter, loop.target
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _MODULE_ITERS):
        return None
    if it.func.attr.startswith("named_") and isinstance(target, ast.Tuple) and len(target.elts) == 2:
        target = target.elts[1]
    src = _path_below_param(it.func.value, index)
    if src is None or not isinstance(target, ast.Name):
        return None
    return target.id, (src[0], f"{src[1]}.*" if src[1] else "*")


_MODULE_ITERS = frozenset({"modules", "children", "named_modules", "named_children"})


def _param_iter_source(it: ast.AST, index: Dict[str, int]) -> Optional[Tuple[int, str]]:
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "parameters":
        return _path_below_param(it.func.value, index)
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in ("list", "tuple") and it.args:
        return _param_iter_source(it.args[0], index)
    return None


def _method_effect(out: FunctionSummary, call: ast.Call, index, loopvars) -> None:
    m = call.func.attr
    recv = call.func.value
    if m == "requires_grad_":
        a = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "requires_grad"), None)
        flag = True if a is None else bool_literal(a)
        if flag is None:
            return
        kind = UNFREEZE if flag else FREEZE
        if isinstance(recv, ast.Name) and recv.id in loopvars:
            pi, path = loopvars[recv.id]
            out.effects.append((pi, path, kind))
            return
        target = _path_below_param(recv, index)
        if target is not None:
            out.effects.append((target[0], target[1], kind))
    elif m in ("eval", "train") and not call.keywords:
        flag = False if m == "eval" else (True if not call.args else bool_literal(call.args[0]))
        if m == "eval" and call.args:
            return
        target = _path_below_param(recv, index)
        if target is None and isinstance(recv, ast.Name) and recv.id in loopvars and loopvars[recv.id][1].endswith("*"):
            target = loopvars[recv.id]  # `for m in self.modules(): if isinstance(m, nn.BatchNorm2d): m.eval()`
        if target is not None and flag is not None:
            out.effects.append((target[0], target[1], TRAIN if flag else EVAL))


def _record_pass(out: FunctionSummary, call: ast.Call, index) -> None:
    callee = dotted_name(call.func)
    if not callee or callee.split(".")[0] in ("self", "cls"):
        return
    mapping: Dict[int, Tuple[int, str]] = {}
    for i, a in enumerate(positional(call)):
        target = _path_below_param(a, index)
        if target is not None:
            mapping[i] = target
    if mapping:
        out.passes.append((callee, mapping))


def _record_return(out: FunctionSummary, value: ast.AST, index) -> None:
    if isinstance(value, ast.Call):
        ctor = dotted_name(value.func)
        if ctor:
            head = ctor.split(".")[0]
            if head in index:
                # `return model.to(device)`: the parameter itself, for self-returning methods
                if isinstance(value.func, ast.Attribute) and value.func.attr in ("to", "cuda", "cpu", "train", "eval", "float", "half", "requires_grad_"):
                    if isinstance(value.func.value, ast.Name):
                        out.returns_param = index[value.func.value.id]
                return
            if out.returns is None:
                out.returns = ctor
            elif ctor != out.returns and ctor not in out.returns_also:
                out.returns_also.append(ctor)
    elif isinstance(value, ast.Name) and value.id in index:
        out.returns_param = index[value.id]
