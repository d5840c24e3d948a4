"""Constructor -> instance: what building an object did to it, asked where a trainer calls `x.train()`.

`DeepLab(freeze_bn=True)` runs `self.freeze_bn()` (a `self.modules()` loop of `m.eval()`) from its
`__init__` in one file; the project's own `Trainer.training()` calls `self.model.train()` before its
batch loop in another. The question answered here, at such a `train()` call: which project class built
the receiver (its bindings, across the methods of a trainer class for `self.model`, through wrappers
such as `DataParallel` and self-returning calls such as `.cuda()`), what that construction did below
the instance (`project_modes.ClassTable.construction_effects`), and under which of the call's
arguments. Every binding must agree on one class, or there is no answer (conflicting evidence: silent).
Rules FRZ106 (frozen BatchNorm the train() leaves live) and FRZ107 (an eval() the train() undoes) ask.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import List, Optional, Set, Tuple

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import dotted_name, positional
from freezelint.static.semantic.project_modes import ConstructionEffect
from freezelint.static.summaries.functions import EVAL, FREEZE
from freezelint.static.summaries.constructor import ALWAYS, UNKNOWN

_SELF_RETURNING = frozenset({"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "train", "requires_grad_", "share_memory"})
_UNWRAP_ATTRS = frozenset({"module", "_orig_mod"})
# a re-applied mode after `train()`: a call whose name speaks of BatchNorm, eval or freezing
_REAPPLY = re.compile(r"bn|norm|eval|freez|fix|frozen", re.I)


@dataclass(frozen=True)
class Built:
    cls: str  # the qualified project class
    call: ast.Call  # the construction (the class itself, or a factory returning it)
    direct: bool  # the call is the class: its arguments are `__init__`'s


@dataclass(frozen=True)
class Active:
    effect: ConstructionEffect
    condition: Optional[str]  # None: whatever the arguments; else the argument it depends on (`freeze_bn=args.freeze_bn`)


@dataclass(frozen=True)
class TrainAfterBuild:
    """A training `x.train()` whose receiver was built by a project class whose construction put
    some of it in eval mode or froze some of it, and which does not override `train()`."""

    event: flow.Event
    built: Built
    effects: Tuple[Active, ...]


def train_after_build(facts, tl: flow.Timeline, e: flow.Event) -> Optional[TrainAfterBuild]:
    """At a `x.train()` that training follows in this timeline, with nothing re-applying a mode after it."""
    if e.kind != flow.TRAIN or e.mode is False or e.via is not None or e.target is None:
        return None
    call = e.node
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    if not tl.after(e, flow.BACKWARD, flow.STEP, flow.RUN):
        return None
    if _reapplied_after(tl, e):
        return None
    scope = facts.scope_of.get(id(tl.node), facts.module_scope)
    built = _built(facts, call.func.value, scope, set())
    if not built or len(built) != 1:
        return None
    b = next(iter(built))
    table = facts.project.class_table
    if table.train_keeps_modes(b.cls) is not False:
        return None  # its train() (or a base's) may keep the modes, or a base is unknown
    active = []
    for eff in table.construction_effects(b.cls) or ():
        got = _active(eff, b, table)
        if got is not None:
            active.append(got)
    return TrainAfterBuild(e, b, tuple(active)) if active else None


def _reapplied_after(tl: flow.Timeline, e: flow.Event) -> bool:
    root = flow.segments(e.target)[0]
    for ev in tl.events[e.index + 1:]:
        if ev.kind == flow.EVAL and (ev.target is None or flow.segments(ev.target)[0] == root):
            return True
        if ev.kind == flow.TRAIN and ev.mode is False:
            return True
    # `model.apply(set_bn_eval)`, `fix_bn(model)`: a call named for it, whatever it does
    for n in _calls_after(tl, e):
        name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        args = [a for a in list(n.args) + [k.value for k in n.keywords]]
        if name == "apply" or _REAPPLY.search(name or ""):
            return True
        if any(isinstance(a, ast.Name) and _REAPPLY.search(a.id) for a in args):
            return True
    return False


def _calls_after(tl: flow.Timeline, e: flow.Event) -> List[ast.Call]:
    line = getattr(e.stmt, "lineno", 0)
    loops = [n for n in ast.walk(tl.node) if isinstance(n, (ast.For, ast.While, ast.AsyncFor)) and id(n) in e.loops]
    out = []
    for n in ast.walk(tl.node):
        if isinstance(n, ast.Call) and (getattr(n, "lineno", 0) > line or any(
            l.lineno <= getattr(n, "lineno", 0) <= (l.end_lineno or l.lineno) for l in loops
        )):
            out.append(n)
    return [n for n in out if n is not e.node]


def _active(eff: ConstructionEffect, b: Built, table) -> Optional[Active]:
    if eff.guard == ALWAYS:
        return Active(eff, None)
    if eff.guard == UNKNOWN or eff.owner != b.cls or not b.direct:
        return None
    init = table.classes[eff.owner].init
    negated = eff.guard.startswith("!")
    p = eff.guard.lstrip("!")
    value = next((k.value for k in b.call.keywords if k.arg == p), None)
    if value is None:
        if any(k.arg is None for k in b.call.keywords) or any(isinstance(a, ast.Starred) for a in b.call.args):
            return None  # `**cfg`: we cannot tell what it passes
        args = positional(b.call)
        i = init.params.index(p) if p in init.params else -1
        if 0 <= i < len(args):
            value = args[i]
    if value is None:
        truth = init.defaults.get(p)
        return Active(eff, None) if truth is not None and truth != negated else None
    if isinstance(value, ast.Constant):
        return Active(eff, None) if bool(value.value) != negated else None
    return Active(eff, f"{p}={ast.unparse(value)}")


def _built(facts, expr: ast.AST, scope, seen: Set) -> Optional[Set[Built]]:
    """The project classes that built `expr` (empty: only itself, through a wrapper); None: unknown."""
    if isinstance(expr, ast.Name):
        key = (id(scope.node), expr.id)
        if key in seen:
            return set()
        seen.add(key)
        return _join(facts, facts.lookup(expr.id, scope), seen)
    if isinstance(expr, ast.Attribute):
        if expr.attr in _UNWRAP_ATTRS:
            return _built(facts, expr.value, scope, seen)
        if isinstance(expr.value, ast.Name) and expr.value.id == "self" and scope.class_name:
            key = (scope.class_name, expr.attr)
            if key in seen:
                return set()
            seen.add(key)
            infos = facts.classes.get(scope.class_name, [])
            if len(infos) != 1:
                return None
            return _join(facts, infos[0].self_attrs.get(expr.attr), seen)
        return None
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in _SELF_RETURNING:
            return _built(facts, func.value, scope, seen)
        # the name as imported; a star import (`from modeling.deeplab import *`) leaves it as written
        qual = facts.qualified(func, scope) or dotted_name(func) or ""
        last = qual.rsplit(".", 1)[-1]
        if "DataParallel" in last or last in ("DistributedDataParallel", "convert_sync_batchnorm"):
            args = positional(expr)
            return _built(facts, args[0], scope, seen) if args else None
        table = facts.project.class_table
        q = table.find(qual) if qual else None
        if q is not None:
            return {Built(q, expr, True)}
        fac = facts.project.factory_class(qual) if qual else None
        q = table.find(fac) if fac else None
        return {Built(q, expr, False)} if q is not None else None
    return None


def _join(facts, bindings, seen: Set) -> Optional[Set[Built]]:
    if not bindings:
        return None
    out: Set[Built] = set()
    for b in bindings:
        if b.expr is None or b.iterate:
            return None
        value = b.expr
        for i in b.path:  # `self.model, self.optimizer = model, optimizer`
            if not isinstance(value, (ast.Tuple, ast.List)) or i >= len(value.elts):
                return None
            value = value.elts[i]
        got = _built(facts, value, b.scope, seen)
        if got is None:
            return None
        out |= got
    return out if len({b.cls for b in out}) <= 1 else None


def train_sites(facts) -> List[TrainAfterBuild]:
    """Every training `x.train()` of this file whose receiver's construction froze or evaluated some of it
    (kept on the file's flow: FRZ106 and FRZ107 both ask). Files naming none of those classes cost a set test."""
    from freezelint.static.flow import file_flow as flow_file

    ff = flow_file.file_flow(facts)
    if ff.train_after_build is None:
        ff.train_after_build = []
        names = facts.project.constructed_names
        if names and any(names & words for words in facts.scope_words.values()):
            for tl in ff.all_timelines():
                for e in tl.of(flow.TRAIN):
                    got = train_after_build(facts, tl, e)
                    if got is not None:
                        ff.train_after_build.append(got)
    return ff.train_after_build


def holds_batchnorm_below(table, b: Built, path: str) -> Optional[bool]:
    """Does `path` below an instance of `b.cls` hold a live BatchNorm (its first attribute's construction)?"""
    first = flow.segments(path)[0] if path else ""
    if not first or first == "*":
        return None
    return table.holds_batchnorm(b.cls, first)
