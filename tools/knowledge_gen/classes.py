"""The `modules` and `optimizers` sections: every nn.Module subclass and what it holds."""

from __future__ import annotations

from typing import Dict, List, Optional

from .evaluate import Evaluator
from .kinds import CONTAINERS, OPTIMIZER, PRETRAINED_CLASSMETHODS
from .resolve import MODULE, Index


def overrides_train(ix: Index, ev: Evaluator, q: str) -> bool:
    for a in ix.mro(q):
        if a == MODULE:
            continue
        c = ix.classes[a]
        if "train" in c.methods or "train" in c.attrs:
            return True
    return any(kind == "set" and attr == "train" for _, f in ev.reached_methods(q) for kind, attr, _ in f.effects)


def pretrained_owner(ix: Index, q: str) -> bool:
    """`q.from_pretrained(...)` / `q.from_config(...)` is a classmethod somewhere in its MRO."""
    for name in PRETRAINED_CLASSMETHODS:
        owner, f = ix.method(q, name)
        if f is not None and f.kind == "classmethod":
            return True
    return False


def module_flags(ix: Index, ev: Evaluator, q: str) -> str:
    """Upper case: yes, lower case: no, absent: unknown.  P params, B batchnorm; C container,
    T overrides train(), F has from_pretrained/from_config returning an instance, R registers buffers."""
    params, bn = ev.class_facts(q)
    flags = ""
    if params is not None:
        flags += "P" if params else "p"
    if bn is not None:
        flags += "B" if bn else "b"
    if any(c in ix.mro(q) for c in CONTAINERS):
        flags += "C"
    if overrides_train(ix, ev, q):
        flags += "T"
    if pretrained_owner(ix, q):
        flags += "F"
    if any(kind == "buf" for _, f in ev.reached_methods(q) for kind, _, _ in f.effects):
        flags += "R"
    return flags


def module_classes(ix: Index, ev: Evaluator, prefixes: List[str]) -> Dict[str, List[object]]:
    """qualname -> [bases (resolved where possible), flags] for module classes under `prefixes`.

    Flags `s`/`z`: some subclass in the same library holds parameters/BatchNorm differently, so
    the class's facts do not carry over to an annotation or an isinstance test of that class."""
    inside = tuple(p + "." for p in prefixes)
    found = [q for q in sorted(ix.classes) if q.startswith(inside) and ev.is_module(q)]
    flags = {q: module_flags(ix, ev, q) for q in found}
    children: Dict[str, List[str]] = {}
    for q in found:
        for b in ix.bases(q):
            if b is not None and b != q:
                children.setdefault(b, []).append(q)
    out: Dict[str, List[object]] = {}
    for q in found:
        facts = ev.class_facts(q)
        differ = [False, False]
        todo, seen = list(children.get(q, ())), set()
        while todo and not all(differ):
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            cf = ev.class_facts(c)
            differ = [differ[0] or cf[0] != facts[0], differ[1] or cf[1] != facts[1]]
            todo.extend(children.get(c, ()))
        bases = [b if b is not None else raw for raw, b in zip(ix.classes[q].bases, ix.bases(q))]
        out[q] = [bases, flags[q] + ("s" if differ[0] else "") + ("z" if differ[1] else "")]
    return out


def optimizer_classes(ix: Index, prefixes: List[str]) -> List[str]:
    return sorted(
        q for q in ix.classes
        if q.startswith(tuple(p + "." for p in prefixes)) and q != OPTIMIZER and OPTIMIZER in ix.mro(q)
    )


def registries(ix: Index, ev: Evaluator, prefixes: List[str]) -> Dict[str, Dict[str, str]]:
    """`@MODELS.register_module()` (mmengine style): registry qualname -> {registered name: class}.

    Only Module classes are kept: the registries of datasets, hooks and transforms are not models."""
    out: Dict[str, Dict[str, str]] = {}
    for q in sorted(ix.classes):
        if not q.startswith(tuple(p + "." for p in prefixes)) or not ev.is_module(q):
            continue
        for d in ix.classes[q].decorators:
            reg = _register_module_target(d)
            if reg is None:
                continue
            registry = ix.resolve(reg[0]) or reg[0]
            names = reg[1] or [q.rpartition(".")[2]]
            for name in names:
                out.setdefault(registry, {})[name] = q
    return out


def _register_module_target(d) -> Optional[tuple]:
    # ("call", ("n", "pkg.registry.MODELS.register_module"), args)
    if d[0] != "call" or d[1][0] != "n" or not d[1][1].endswith(".register_module"):
        return None
    return d[1][1][: -len(".register_module")], []
