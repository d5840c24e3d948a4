"""The class half of the Evaluator: what an instance of a Module class holds.

A class's facts come from every `__init__` in its MRO and the `self.` methods they call
(README.md, "How facts are decided"). The values stored on `self` are evaluated by the
value half (evaluate.py), which this mixin calls through `self.eval` / `self.attribute`.
"""

from __future__ import annotations

from typing import Optional, Set, Tuple

from .kinds import CONTAINERS, PARAMETER_CLASSES, is_batchnorm_class, join, stored
from .resolve import MODULE

_NEUTRAL_BASE_PREFIXES = ("typing.", "abc.", "builtins.", "enum.", "collections.", "object", "Generic", "ABC", "Protocol")


class ClassFacts:
    # -- class questions ------------------------------------------------------------
    def is_module(self, q: Optional[str]) -> bool:
        return bool(q) and q in self.ix.classes and MODULE in self.ix.mro(q) or q == MODULE

    def is_param_class(self, q: str) -> bool:
        return any(p in self.ix.mro(q) for p in PARAMETER_CLASSES) if q in self.ix.classes else q in PARAMETER_CLASSES

    def neutral_base(self, dotted: str) -> bool:
        return dotted.startswith(_NEUTRAL_BASE_PREFIXES)

    def class_facts(self, q: str) -> Tuple[Optional[bool], Optional[bool]]:
        if q in self.facts_memo:
            return self.facts_memo[q]
        if q == MODULE:
            return False, False
        if ("facts", q) in self._busy:
            return None, None
        self._busy.add(("facts", q))
        try:
            facts = self._class_facts(q)
        finally:
            self._busy.discard(("facts", q))
        self.facts_memo[q] = facts
        return facts

    def _class_facts(self, q: str) -> Tuple[Optional[bool], Optional[bool]]:
        bn_self = is_batchnorm_class(self.ix, q)
        if bn_self:
            return True, True
        if any("__new__" in self.ix.classes[a].methods for a in self.ix.mro(q) if a != MODULE):
            return None, None  # `__new__` may build another class altogether (deepspeed's OptimizedLinear)
        params: Optional[bool] = False
        bn: Optional[bool] = False
        container = any(c in self.ix.mro(q) for c in CONTAINERS)
        if q in CONTAINERS:
            return None, None  # what it holds is per instance
        for a in self.ix.mro(q):
            for raw, b in zip(self.ix.classes[a].bases, self.ix.bases(a)):
                if (b is None or b not in self.ix.classes) and not self.neutral_base(raw):
                    params, bn = join(params, None), join(bn, None)
        for owner, f in self.reached_methods(q):
            for callee in sorted(f.constructs):  # "creates an nn.Parameter / constructs a BatchNorm"
                r = self.ix.resolve(callee)
                if r is not None and r in self.ix.classes and r != q:
                    if self.is_param_class(r):
                        params = True
                    elif self.is_module(r):
                        p, b = self.class_facts(r)
                        params, bn = (True if p else params), (True if b else bn)
            ctx = (q, f, owner)
            for kind, attr, v in f.effects:
                if kind == "add" and attr == "__dict__":  # `self.__dict__["m"] = ...` bypasses registration rules
                    params, bn = join(params, None), join(bn, None)
                    continue
                if kind == "add" and attr != "?" and self.plain_attribute(attr, ctx):
                    continue  # `self._names.update(...)`: a plain set or list registers nothing
                if kind == "super_init" and container:  # `super().__init__(*layers)` of a Sequential subclass
                    for k in self.eval(v, ctx):
                        params, bn = join(params, k[2]), join(bn, k[3])
                if kind in ("set", "add"):
                    ks = self.eval(v, ctx)
                    for k in ks:
                        p, b = stored(k) if kind == "set" else (k[2], k[3]) if k[0] != "data" else (False, False)
                        params, bn = join(params, p), join(bn, b)
                elif kind == "par" and v != ("c",):
                    params = True
        return params, bn

    def plain_attribute(self, attr: str, ctx) -> bool:
        kinds = self.attribute(("s",), attr, ctx, 1)
        return bool(kinds) and all(k[0] in ("seq", "data") for k in kinds)

    def reached_methods(self, q: str):
        """Every `__init__` in the MRO and what they call on `self`, transitively (bounded)."""
        seen: Set[Tuple[str, str]] = set()
        todo = []
        for a in self.ix.mro(q):
            f = self.ix.classes[a].methods.get("__init__")
            if f is not None and a != MODULE:
                todo.append((a, f))
        while todo and len(seen) < 40:
            owner, f = todo.pop()
            if (owner, f.name) in seen:
                continue
            seen.add((owner, f.name))
            yield owner, f
            for name in f.self_calls:
                o2, f2 = self.ix.method(q, name)
                if f2 is not None and o2 != MODULE and (o2, name) not in seen:
                    todo.append((o2, f2))
