"""Class facts about train/eval modes across the project: "holds a live BatchNorm" and
"its train() (own or inherited) keeps some submodule in eval mode".

`ClassTable` is built by `project._Builder` from every file's `summary.ClassSummary` with
bases and attribute constructors resolved to qualified names; `ProjectIndex` answers from it.
Classes outside the project are asked of the knowledge base (loaded only when the
project's own classes cannot answer). Answers are True / False / None (unknown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from freezelint.static.summaries.constructor import InitSummary
from freezelint.static.summaries.modes import is_batchnorm_class_name

_TORCH_BASES = frozenset({"torch.nn.Module", "nn.Module", "Module", "torch.nn.modules.module.Module"})


@dataclass(frozen=True)
class ClassFacts:
    bases: Tuple[str, ...]  # qualified where the imports resolve them
    attrs: Tuple[Tuple[str, str], ...]  # (attr, constructor qualified where resolved)
    batchnorm_attrs: Tuple[str, ...]
    overrides_train: bool
    train_passthrough: bool
    frozen_attrs: Tuple[str, ...] = ()  # summary_freezes: self.<attr> a method freezes or pins in eval
    freezes_self: bool = False  # it also freezes what is not one attribute (`self.requires_grad_(False)`)
    param_containers: Tuple[str, ...] = ()  # self.<attr> = nn.Sequential(nn.Linear(...), ...): holds parameters
    method_names: Tuple[str, ...] = ()  # every method the class defines
    # (method, ((path below self, FREEZE/UNFREEZE/EVAL/TRAIN), ...), (methods it calls on self, ...))
    methods: Tuple[Tuple[str, Tuple[Tuple[str, str], ...], Tuple[str, ...]], ...] = ()
    init: Optional[InitSummary] = None  # summary_init: what `__init__` does to the instance, under which condition


@dataclass(frozen=True)
class ConstructionEffect:
    """One thing building an instance does to it (`ClassTable.construction_effects`)."""

    path: str  # below the instance: "" itself, "bn1", "*" some of its modules
    kind: str  # summary_functions FREEZE / UNFREEZE / EVAL / TRAIN
    guard: str  # summary_init: ALWAYS, "p" / "!p" (a parameter of `owner`'s __init__), UNKNOWN
    owner: str  # the qualified class whose __init__ does it
    method: Optional[str] = None  # the method of self it runs through (`self.freeze_bn()`)


@dataclass
class ClassTable:
    classes: Dict[str, ClassFacts] = field(default_factory=dict)  # qualified name -> facts
    short: Dict[str, List[str]] = field(default_factory=dict)  # short name -> qualified names
    _bn: Dict[str, Optional[bool]] = field(default_factory=dict, repr=False, compare=False)

    def digest_part(self) -> str:
        return json.dumps({q: [list(f.bases), list(f.attrs), list(f.batchnorm_attrs), f.overrides_train,
                               f.train_passthrough, list(f.frozen_attrs), f.freezes_self,
                               list(f.param_containers), list(f.method_names), [list(m) for m in f.methods],
                               f.init and [f.init.effects, f.init.calls, f.init.params, f.init.defaults]]
                           for q, f in sorted(self.classes.items())})

    def find(self, name: str) -> Optional[str]:
        """A class name as the caller knows it (qualified or short) -> the project's qualified name."""
        if name in self.classes:
            return name
        quals = self.short.get(name.rsplit(".", 1)[-1], [])
        exact = [q for q in quals if q.endswith("." + name)]
        if len(exact) == 1:
            return exact[0]
        return quals[0] if len(quals) == 1 else None

    def mro(self, q: str) -> List[str]:
        """The project class and its project bases (breadth first, each once, at most 16)."""
        out: List[str] = []
        todo = [q]
        while todo and len(out) < 16:
            name = todo.pop(0)
            if name in out or name not in self.classes:
                continue
            out.append(name)
            todo.extend(b for b in (self.find(x) for x in self.classes[name].bases) if b is not None)
        return out

    def attr_constructor(self, name: str, attr: str) -> Optional[str]:
        """`self.<attr> = Ctor(...)` in project class `name` or its project bases (the first that sets
        it wins): the constructor, qualified where the imports resolve it; None when none sets it so."""
        q = self.find(name)
        for cls in self.mro(q) if q else ():
            ctors = {c for a, c in self.classes[cls].attrs if a == attr}
            if ctors:
                return ctors.pop() if len(ctors) == 1 else None
        return None

    def method_effects(self, name: str, method: str, _depth: int = 0) -> Optional[Tuple[Tuple[str, str], ...]]:
        """What `instance.method()` does below the instance, for an instance of project class `name`:
        the method is looked up in the class and its bases (the first that defines it wins, as in Python),
        and the methods it calls on `self` are dispatched from the instance's class again.
        None: the method is not defined in the project (a library's, or unknown)."""
        q = self.find(name)
        if q is None or _depth > 4:
            return None
        for cls in self.mro(q):
            facts = self.classes[cls]
            if method not in facts.method_names:
                continue
            entry = next((m for m in facts.methods if m[0] == method), None)
            if entry is None:
                return ()
            out = list(entry[1])
            for callee in entry[2]:
                if callee != method:
                    out.extend(self.method_effects(q, callee, _depth + 1) or ())
            return tuple(dict.fromkeys(out))
        return None

    def construction_effects(self, name: str) -> Optional[Tuple[ConstructionEffect, ...]]:
        """What building an instance of project class `name` does below it: the `__init__` of the first
        class of its hierarchy that defines one, with the methods it calls on `self` (dispatched from
        the instance's class), and the bases' when it calls `super().__init__`-style (union: the bases'
        guards name their own parameters). None: the class is not the project's."""
        q = self.find(name)
        if q is None:
            return None
        out: List[ConstructionEffect] = []
        for cls in self.mro(q):
            init = self.classes[cls].init
            if init is None:
                continue
            out.extend(ConstructionEffect(path, kind, guard, cls) for path, kind, guard in init.effects)
            for method, guard in init.calls:
                for path, kind in self.method_effects(q, method) or ():
                    out.append(ConstructionEffect(path, kind, guard, cls, method))
        return tuple(out)

    def constructed_names(self, factories: Dict[str, str]) -> FrozenSet[str]:
        """Short names of the classes whose construction freezes or evals something below the instance,
        and of the factories returning them (the cheap text gate of construction.train_sites)."""
        names: Set[str] = set()
        for q in self.classes:
            if any(e.kind in ("eval", "freeze") for e in self.construction_effects(q) or ()):
                names.add(q.rsplit(".", 1)[-1])
        for fname, cls in factories.items():
            if cls and cls.rsplit(".", 1)[-1] in names:
                names.add(fname.rsplit(".", 1)[-1])
        return frozenset(names)

    # -- BatchNorm
    def holds_batchnorm(self, name: str, attr: Optional[str] = None) -> Optional[bool]:
        """Does an instance of class `name` (or its `self.<attr>` submodule) hold a live BatchNorm?"""
        q = self.find(name)
        if q is None:
            return ctor_holds_batchnorm(name, None)
        facts = self.classes[q]
        if attr is not None:
            for cls in self.mro(q):  # the first class of the hierarchy that sets it (a base may name its subclass)
                if attr in self.classes[cls].batchnorm_attrs:
                    return True
                ctor = dict(self.classes[cls].attrs).get(attr)
                if ctor is not None:
                    return ctor_holds_batchnorm(ctor, self)
            return None
        if q in self._bn:
            return self._bn[q]
        self._bn[q] = None  # recursion guard
        answers = [True] if facts.batchnorm_attrs else []
        answers += [ctor_holds_batchnorm(c, self) for _, c in facts.attrs]
        answers += [self.holds_batchnorm(b) if self.find(b) else ctor_holds_batchnorm(b, None)
                    for b in facts.bases if b not in _TORCH_BASES]
        got = True if True in answers else None
        self._bn[q] = got
        return got

    # -- train()
    def train_keeps_modes(self, name: str, _seen: Optional[Set[str]] = None) -> Optional[bool]:
        """True: the class or a base defines a train() that does more than call the base one;
        False: none does (every base known); None: some base is unknown."""
        q = self.find(name)
        seen = _seen if _seen is not None else set()
        if q is None:
            return _library_overrides_train(name)
        if q in seen:
            return False
        seen.add(q)
        facts = self.classes[q]
        if facts.overrides_train and not facts.train_passthrough:
            return True
        unknown = False
        for b in facts.bases:
            if b in _TORCH_BASES:
                continue
            got = self.train_keeps_modes(b, seen)
            if got:
                return True
            unknown = unknown or got is None
        return None if unknown else False


def ctor_holds_batchnorm(ctor: str, table: Optional[ClassTable]) -> Optional[bool]:
    """A constructor (or factory) name: a torch BatchNorm class, a project class, or the knowledge base."""
    last = ctor.rsplit(".", 1)[-1]
    if is_batchnorm_class_name(last):
        return True
    if "FrozenBatchNorm" in last:
        return False
    if table is not None and table.find(ctor) is not None:
        return table.holds_batchnorm(ctor)
    if "." not in ctor or not ctor.split(".")[0].isidentifier():
        return None
    from freezelint.static import knowledge

    info = knowledge.module_class(ctor)
    if info is None:
        fac = knowledge.factory(ctor)
        if fac is None:
            return None
        infos = [knowledge.module_class(r) for r in fac.returns]
        values = {i.has_batchnorm if i is not None else None for i in infos}
        return values.pop() if len(values) == 1 else None
    return info.has_batchnorm


def _library_overrides_train(name: str) -> Optional[bool]:
    if name in _TORCH_BASES:
        return False
    if "." not in name:
        return None
    from freezelint.static import knowledge

    info = knowledge.module_class(name)
    return None if info is None else info.overrides_train
