"""All file summaries of a run -> one index that resolves dotted names.

`resolve("torch.nn.Linear")` follows the bindings of `torch/nn/__init__.py`
(imports, `from x import *` honouring `__all__`, transformers' lazy
`_import_structure`, `TYPE_CHECKING` imports, `Alias = Class`) down to where
the class is defined: `torch.nn.modules.linear.Linear`.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Set

from .records import ClassSummary, FileSummary, FuncSummary, Value

MODULE = "torch.nn.modules.module.Module"


class Index:
    def __init__(self, files: Dict[str, FileSummary]) -> None:
        self.files = files
        self.classes: Dict[str, ClassSummary] = {}
        self.functions: Dict[str, FuncSummary] = {}
        self.variables: Dict[str, Value] = {}
        for mod, s in files.items():
            for name, c in s.classes.items():
                self.classes[f"{mod}.{name}"] = c
            for name, f in s.functions.items():
                self.functions[f"{mod}.{name}"] = f
            for name, v in s.variables.items():
                self.variables[f"{mod}.{name}"] = v
        self._memo: Dict[str, Optional[str]] = {}
        self._bases: Dict[str, List[Optional[str]]] = {}
        self._mro: Dict[str, List[str]] = {}

    # -- names -----------------------------------------------------------------
    def defined(self, q: str) -> bool:
        return q in self.classes or q in self.functions or q in self.files or q in self.variables

    def resolve(self, q: str) -> Optional[str]:
        """The canonical name of what `q` denotes, or None when it is not in the sources."""
        if q in self._memo:
            return self._memo[q]
        self._memo[q] = None  # cycle guard
        r = self._resolve(q)
        self._memo[q] = r
        return r

    def _resolve(self, q: str) -> Optional[str]:
        mod, _, attr = q.rpartition(".")
        if not mod:
            return q if q in self.files else None
        if mod in self.files:  # the common case first: no need to resolve the parent
            parent: Optional[str] = mod
        else:
            parent = self.resolve(mod)
        if parent is None:
            return None
        if parent in self.classes:  # a method or attribute of a class
            return f"{parent}.{attr}"
        s = self.files.get(parent)
        if s is None:
            return None
        own = f"{parent}.{attr}"
        for _, target in sorted(s.bindings.get(attr, ()), key=lambda b: b[0]):
            if target == own:
                if own in self.classes or own in self.functions or own in self.variables:
                    return own
                continue
            r = self.resolve(target)
            if r is not None:
                return r
        if own in self.files:
            return own
        for star in s.stars:
            if self.star_exports(star, attr):
                r = self.resolve(f"{star}.{attr}")
                if r is not None:
                    return r
        return None

    def star_exports(self, mod: str, name: str) -> bool:
        s = self.files.get(mod)
        if s is None:
            return False
        if s.all_names is not None:
            return name in s.all_names
        return not name.startswith("_")

    def public_names(self, mod: str) -> Iterator[str]:
        """Names reachable as `mod.name`: its own public bindings and what its `import *`s bring
        (its own `__all__` limits only what *it* exports to a star import, not attribute access)."""
        s = self.files[mod]
        yield from (n for n in s.bindings if not n.startswith("_"))
        for star in s.stars:
            if star in self.files:
                yield from self.star_names(star, set())

    def star_names(self, mod: str, seen: Set[str]) -> Iterator[str]:
        """What `from mod import *` binds."""
        if mod in seen:
            return
        seen.add(mod)
        s = self.files[mod]
        if s.all_names is not None:
            yield from s.all_names
            return
        yield from (n for n in s.bindings if not n.startswith("_"))
        for star in s.stars:
            if star in self.files:
                yield from self.star_names(star, seen)

    # -- classes -----------------------------------------------------------------
    def bases(self, q: str) -> List[Optional[str]]:
        if q not in self._bases:
            c = self.classes[q]
            out: List[Optional[str]] = []
            for b in c.bases:
                r = self.resolve(b)
                out.append(r if r != q else None)
            self._bases[q] = out
        return self._bases[q]

    def mro(self, q: str) -> List[str]:
        """`q` and its resolvable ancestors, depth first, each once (close enough to C3 here)."""
        if q in self._mro:
            return self._mro[q]
        self._mro[q] = [q]  # cycle guard
        out = [q]
        for b in self.bases(q):
            if b in self.classes:
                for a in self.mro(b):
                    if a not in out:
                        out.append(a)
        self._mro[q] = out
        return out

    def is_subclass(self, q: str, ancestor: str) -> bool:
        return q in self.classes and ancestor in self.mro(q)

    def has_unresolved_base(self, q: str) -> bool:
        return any(b is None or b not in self.classes for a in self.mro(q) for b in self.bases(a))

    def method(self, cls: str, name: str, below: Optional[str] = None):
        """(owner, FuncSummary) of `name` on `cls` by the MRO; `below`: start after that class."""
        chain = self.mro(cls)
        if below is not None and below in chain:
            chain = chain[chain.index(below) + 1 :]
        for owner in chain:
            f = self.classes[owner].methods.get(name)
            if f is not None:
                return owner, f
        return None, None
