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

from freezelint.static.summaries import freezes as summary_freezes
from freezelint.static.summaries import modes as summary_modes
from freezelint.static.summaries import unfreezes as summary_unfreezes
from freezelint.static.parse.astutil import dotted_name
from freezelint.static.summaries.functions import (
    EVAL, FREEZE, TRAIN, UNFREEZE, FunctionSummary, function_summary, statements as _statements,
)
from freezelint.static.summaries.constructor import InitSummary, init_summary
from freezelint.static.summaries.call_sites import CallSites, call_sites

__all__ = ["EVAL", "FREEZE", "TRAIN", "UNFREEZE", "ClassSummary", "FileSummary", "FunctionSummary", "summarize_tree"]


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
    method_names: List[str] = field(default_factory=list)  # every method it defines (overrides shadow the bases')
    # method -> ([(path below self, FREEZE/UNFREEZE/EVAL/TRAIN)], [methods it calls on self]); freeze files only
    methods: Dict[str, Tuple[List[Tuple[str, str]], List[str]]] = field(default_factory=dict)
    init: Optional[InitSummary] = None  # summary_init: what `__init__` does to the instance (freeze files only)


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
    unfreeze_words: List[str] = field(default_factory=list)  # summary_unfreezes: names of what is set trainable
    unfreeze_paths: List[str] = field(default_factory=list)  # summary_unfreezes: the paths of it (`m.tower.layers.[]`)
    sites: CallSites = field(default_factory=CallSites)  # call_sites: what each call of a project name passes

    def to_json(self) -> dict:
        return {
            "i": self.imports,
            "c": {
                n: [list(c.bases), c.attrs, int(c.reads_requires_grad), int(c.overrides_train),
                    c.batchnorm_attrs, int(c.train_passthrough), c.frozen_attrs, int(c.freezes_self),
                    c.param_containers, c.method_names,
                    {m: [[list(e) for e in effects], calls] for m, (effects, calls) in c.methods.items()},
                    _init_json(c.init)]
                for n, c in self.class_info.items()
            },
            "o": self.option_classes,
            "w": self.freeze_words,
            "u": self.unfreeze_words,
            **({"up": self.unfreeze_paths} if self.unfreeze_paths else {}),
            "d": self.def_params,
            "f": {
                n: [f.params, f.returns, f.returns_param, [list(e) for e in f.effects],
                    [[callee, {str(k): list(v) for k, v in m.items()}] for callee, m in f.passes], f.returns_also]
                for n, f in self.functions.items()
            },
            **({"s": self.sites.to_json()} if self.sites else {}),
        }

    @classmethod
    def from_json(cls, data: dict) -> "FileSummary":
        s = cls(imports={str(k): str(v) for k, v in data.get("i", {}).items()})
        for n, (bases, attrs, reads, overrides, *modes) in data.get("c", {}).items():
            bn, passthrough, frozen, freezes_self, containers, names, methods, init = (
                modes + [[], 0, [], 0, [], [], {}, None][len(modes):])[:8]
            s.class_info[n] = ClassSummary(
                tuple(bases), dict(attrs), bool(reads), bool(overrides), list(bn), bool(passthrough), list(frozen),
                bool(freezes_self), list(containers), list(names),
                {m: ([(e[0], e[1]) for e in effects], list(calls)) for m, (effects, calls) in methods.items()},
                _init_from_json(init),
            )
            s.classes.append((n, tuple(bases)))
        s.option_classes = list(data.get("o", []))
        s.freeze_words = list(data.get("w", []))
        s.unfreeze_words = list(data.get("u", []))
        s.unfreeze_paths = list(data.get("up", []))
        s.def_params = list(data.get("d", []))
        if "s" in data:
            s.sites = CallSites.from_json(data["s"])
        for n, (params, returns, returns_param, effects, passes, *also) in data.get("f", {}).items():
            s.functions[n] = FunctionSummary(
                list(params), returns, returns_param, list(also[0]) if also else [], [tuple(e) for e in effects],
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
    if text is None or "requires_grad" in text:
        s.unfreeze_words, s.unfreeze_paths = summary_unfreezes.unfreezes(tree)
    if any(c.reads_requires_grad for c in s.class_info.values()):
        s.option_classes = list(s.class_info)
    s.sites = call_sites(tree, s.imports, text)
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
        s.functions[stmt.name] = function_summary(stmt)
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
            info.method_names.append(stmt.name)
            if freezes and summary_freezes.is_hot(stmt, freezes if isinstance(freezes, set) else None):
                fs = function_summary(stmt, method=True)
                effects = [(path, kind) for i, path, kind in fs.effects if i == 0]
                if effects or fs.self_calls:
                    info.methods[stmt.name] = (effects, list(dict.fromkeys(fs.self_calls)))
                if stmt.name == "__init__" and (effects or fs.self_calls):
                    info.init = init_summary(stmt)
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


def _init_json(init: Optional[InitSummary]):
    return None if init is None else [[list(e) for e in init.effects], [list(c) for c in init.calls], init.params, init.defaults]


def _init_from_json(data) -> Optional[InitSummary]:
    if not data:
        return None
    effects, calls, params, defaults = data
    return InitSummary([tuple(e) for e in effects], [tuple(c) for c in calls], list(params), dict(defaults))


def _subscript_base(b: ast.AST) -> Optional[str]:
    return dotted_name(b.value) if isinstance(b, ast.Subscript) else None


