"""Per-file summaries: what one file tells the rest of the project (small, JSON, cached by content).

A `FileSummary` is taken from the file's `ast` alone, without knowing any other file:
its imports, its classes (bases, the constructors of their `self.x` submodules, whether
they read `self.requires_grad` back or override `train()`), and what each module-level
function returns and does to its parameters (freezes, unfreezes, eval/train of a path
below a parameter, and calls that pass a parameter on, so effects compose across files
in `project.ProjectIndex`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from freezelint.static import summary_freezes, summary_modes
from freezelint.static.astutil import bool_literal, dotted_name, positional

FREEZE = "freeze"
UNFREEZE = "unfreeze"
EVAL = "eval"
TRAIN = "train"


@dataclass
class FunctionSummary:
    params: List[str] = field(default_factory=list)
    returns: Optional[str] = None  # the constructor/factory it returns, as written in this file ("nn.Linear")
    returns_param: Optional[int] = None  # returns its own parameter (a `m.to(device)`-style helper)
    # (parameter index, path below it ("" : the parameter itself), FREEZE/UNFREEZE/EVAL/TRAIN)
    effects: List[Tuple[int, str, str]] = field(default_factory=list)
    # (callee as written, {callee param index: (our param index, path below it)})
    passes: List[Tuple[str, Dict[int, Tuple[int, str]]]] = field(default_factory=list)


@dataclass
class ClassSummary:
    bases: Tuple[str, ...] = ()  # as written ("nn.Module", "BaseModel")
    attrs: Dict[str, str] = field(default_factory=dict)  # self.<attr> = <ctor>(...), ctor as written
    reads_requires_grad: bool = False
    overrides_train: bool = False
    # summary_modes: self.<attr> built with a live BatchNorm; train() only calls the base train()
    batchnorm_attrs: List[str] = field(default_factory=list)
    train_passthrough: bool = False
    # summary_freezes: self.<attr> some method freezes or pins in eval; it also freezes what is not one attribute
    frozen_attrs: List[str] = field(default_factory=list)
    freezes_self: bool = False
    param_containers: List[str] = field(default_factory=list)  # self.<attr> = nn.Sequential(nn.Linear(...), ...)


@dataclass
class FileSummary:
    """What one file contributes to the project model (cheap to compute and to cache)."""

    imports: Dict[str, str] = field(default_factory=dict)  # local name -> "pkg.mod.name" (relative: ".mod.name")
    classes: List[Tuple[str, Tuple[str, ...]]] = field(default_factory=list)  # (name, base texts) (index compat)
    class_info: Dict[str, ClassSummary] = field(default_factory=dict)
    option_classes: List[str] = field(default_factory=list)  # classes in a file reading self.requires_grad
    def_params: List[str] = field(default_factory=list)  # parameter names close to requires_grad
    functions: Dict[str, FunctionSummary] = field(default_factory=dict)
    freeze_words: List[str] = field(default_factory=list)  # summary_freezes.freeze_words: names near a freeze

    def to_json(self) -> dict:
        return {
            "i": self.imports,
            "c": {
                n: [list(c.bases), c.attrs, int(c.reads_requires_grad), int(c.overrides_train),
                    c.batchnorm_attrs, int(c.train_passthrough), c.frozen_attrs, int(c.freezes_self),
                    c.param_containers]
                for n, c in self.class_info.items()
            },
            "o": self.option_classes,
            "w": self.freeze_words,
            "d": self.def_params,
            "f": {
                n: [f.params, f.returns, f.returns_param, [list(e) for e in f.effects],
                    [[callee, {str(k): list(v) for k, v in m.items()}] for callee, m in f.passes]]
                for n, f in self.functions.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> "FileSummary":
        s = cls(imports={str(k): str(v) for k, v in data.get("i", {}).items()})
        for n, (bases, attrs, reads, overrides, *modes) in data.get("c", {}).items():
            bn, passthrough, frozen, freezes_self, containers = (modes + [[], 0, [], 0, []][len(modes):])[:5]
            s.class_info[n] = ClassSummary(tuple(bases), dict(attrs), bool(reads), bool(overrides), list(bn),
                                           bool(passthrough), list(frozen), bool(freezes_self), list(containers))
            s.classes.append((n, tuple(bases)))
        s.option_classes = list(data.get("o", []))
        s.freeze_words = list(data.get("w", []))
        s.def_params = list(data.get("d", []))
        for n, (params, returns, returns_param, effects, passes) in data.get("f", {}).items():
            s.functions[n] = FunctionSummary(
                list(params), returns, returns_param, [tuple(e) for e in effects],
                [(callee, {int(k): (v[0], v[1]) for k, v in m.items()}) for callee, m in passes],
            )
        return s


# `self.requires_grad` read back (not assigned, not the `requires_grad_` method).
_READS_OPTION_RE = re.compile(r"self\.requires_grad\b(?!_)(?![ \t]*=(?!=))")


def summarize_tree(tree: ast.Module, is_near_requires_grad=None, text: Optional[str] = None) -> FileSummary:
    """The file's summary. With its `text`, a cheap search first rules out what the tree need not be walked for."""
    s = FileSummary()
    reads_option = text is None or _READS_OPTION_RE.search(text) is not None
    bn_words = text is None or "BatchNorm" in text or "BN" in text
    freezes = text is None or summary_freezes.may_freeze(text)
    if freezes and text is not None and any(isinstance(st, ast.ClassDef) for st in tree.body):
        freezes = summary_freezes.hot_lines(text)  # the lines a class's methods must hold to be walked
    for stmt in tree.body:
        _top_level(s, stmt, is_near_requires_grad, reads_option, bn_words, freezes)
    if freezes and text is not None:
        s.freeze_words = summary_freezes.freeze_words(text)
    if any(c.reads_requires_grad for c in s.class_info.values()):
        s.option_classes = list(s.class_info)
    return s


def _top_level(s: FileSummary, stmt: ast.stmt, near, reads_option: bool = True, bn_words: bool = True,
               freezes: bool = True) -> None:
    if isinstance(stmt, ast.Import):
        for a in stmt.names:
            if a.asname:
                s.imports[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                s.imports[top] = top
    elif isinstance(stmt, ast.ImportFrom):
        base = "." * stmt.level + (stmt.module or "")
        for a in stmt.names:
            if a.name != "*":
                s.imports[a.asname or a.name] = f"{base}.{a.name}" if base and not base.endswith(".") else base + a.name
    elif isinstance(stmt, ast.ClassDef):
        _class(s, stmt, near, reads_option, bn_words, freezes)
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        s.functions[stmt.name] = _function(stmt)
        _near_params(s, stmt, near)
    elif isinstance(stmt, (ast.If, ast.Try)) or (hasattr(ast, "TryStar") and isinstance(stmt, getattr(ast, "TryStar"))):
        # `try: import x except ImportError: ...` and `if TYPE_CHECKING:` blocks
        for block in _blocks(stmt):
            for inner in block:
                _top_level(s, inner, near, reads_option, bn_words, freezes)


def _blocks(stmt: ast.stmt) -> List[List[ast.stmt]]:
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    return [stmt.body] + [h.body for h in stmt.handlers] + [stmt.orelse, stmt.finalbody]


def _near_params(s: FileSummary, fn, near) -> None:
    if near is None:
        return
    a = fn.args
    for p in list(a.posonlyargs) + list(a.args) + list(a.kwonlyargs) + [x for x in (a.vararg, a.kwarg) if x]:
        if near(p.arg) and p.arg not in s.def_params:
            s.def_params.append(p.arg)


def _class(s: FileSummary, node: ast.ClassDef, near, reads_option: bool, bn_words: bool = True,
           freezes: bool = True) -> None:
    bases = tuple(t for t in (dotted_name(b) or _subscript_base(b) for b in node.bases) if t)
    info = ClassSummary(bases=bases)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _near_params(s, stmt, near)
            if stmt.name == "train":
                info.overrides_train = True
            for n in _statements(stmt.body):
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.value, ast.Call):
                    t = n.targets[0]
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        ctor = dotted_name(n.value.func)
                        if ctor:
                            info.attrs.setdefault(t.attr, ctor)
                            if t.attr not in info.param_containers and summary_freezes.container_holds_params(n.value):
                                info.param_containers.append(t.attr)
            if reads_option and not info.reads_requires_grad:
                info.reads_requires_grad = any(
                    isinstance(n, ast.Attribute) and n.attr == "requires_grad" and isinstance(n.ctx, ast.Load)
                    and isinstance(n.value, ast.Name) and n.value.id == "self"
                    for n in ast.walk(stmt)
                )
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "requires_grad" for t in targets):
                info.reads_requires_grad = True  # a class attribute of that name: the class's own option
            if any(isinstance(t, ast.Name) and t.id == "train" for t in targets):
                info.overrides_train = True
    if bn_words:  # the text names no BatchNorm at all: no need to walk the class for one
        info.batchnorm_attrs = summary_modes.batchnorm_attrs(node)
    info.train_passthrough = summary_modes.train_passthrough(node)
    if freezes:  # no freeze word in the file: no method can freeze anything
        hot = freezes if isinstance(freezes, set) else None
        info.frozen_attrs, info.freezes_self = summary_freezes.class_freezes(node, hot)
    s.class_info[node.name] = info
    s.classes.append((node.name, bases))


_COMPOUND_BODIES = ("body", "orelse", "finalbody")


def _statements(body):
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


def _subscript_base(b: ast.AST) -> Optional[str]:
    return dotted_name(b.value) if isinstance(b, ast.Subscript) else None


# --- functions -------------------------------------------------------------------


def _function(fn) -> FunctionSummary:
    """Statements only (a freeze helper's effects are statements): expressions are not walked."""
    a = fn.args
    params = [p.arg for p in list(a.posonlyargs) + list(a.args)] + [p.arg for p in a.kwonlyargs]
    out = FunctionSummary(params=params)
    index = {p: i for i, p in enumerate(params)}
    loopvars: Dict[str, Tuple[int, str]] = {}  # `for p in model.x.parameters()` -> p: (param, "x")
    built: Dict[str, str] = {}  # `model = Net(cfg)` -> model: "Net"
    for stmt in _statements(fn.body):
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            if isinstance(stmt.target, ast.Name):
                src = _param_iter_source(stmt.iter, index)
                if src is not None:
                    loopvars[stmt.target.id] = src
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            t, value = stmt.targets[0], stmt.value
            if isinstance(t, ast.Name) and isinstance(value, ast.Call) and dotted_name(value.func):
                built.setdefault(t.id, dotted_name(value.func))
            flag = bool_literal(value)
            if flag is not None and isinstance(t, ast.Attribute) and t.attr == "requires_grad":
                if isinstance(t.value, ast.Name) and t.value.id in loopvars:
                    pi, path = loopvars[t.value.id]
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
        _record_pass(out, value, index)
        value = value.func.value if isinstance(value.func, ast.Attribute) else None


def _path_below_param(expr: ast.AST, index: Dict[str, int]) -> Optional[Tuple[int, str]]:
    """`model.backbone.layer1` -> (index of `model`, "backbone.layer1") for a parameter `model`."""
    name = dotted_name(expr)
    if not name:
        return None
    head, _, rest = name.partition(".")
    if head not in index or head in ("self", "cls"):
        return None
    return index[head], rest


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
    elif isinstance(value, ast.Name) and value.id in index:
        out.returns_param = index[value.id]
