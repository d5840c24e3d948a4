"""Caller -> callee: what every call site in the project passes to a parameter of a project function.

`join` (asked by `project._Builder`) resolves each file's `summaries.call_sites.CallSites` across the
project and keeps, for a parameter of a module-level function or of a class's own `__init__`, the
values its call sites pass when every one of them passes something known (a construction, a project
factory's result, an iterable of parameters) and no call of it can be missed: the function or class is
not decorated, never used other than as a callee, called with nothing known nowhere, and (a class)
has no subclass in the project. One site passing an unknown value, or the parameter left to its
default: no answer. `param_kind` (asked by `facts`) turns the answer into a `Kind`; `stored_attrs`
says which class a `self.x = x` of `__init__` holds, for `project_modes.ClassTable`.

Values are "c:<qualified callee>" (what calling it returns) and "P" (an iterable of parameters).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Set, Tuple

from freezelint.static.semantic.kinds import PARAM_ITER, UNKNOWN, Kind, join as join_kinds
from freezelint.static.summaries.call_sites import EXTERNAL_ROOTS

_DEPTH = 4  # callers of callers followed through their own parameters
_MAX_VALUES = 4  # more distinct values than this: no answer (a dispatcher, not a helper)

Args = Dict[str, Dict[str, Tuple[str, ...]]]  # qualified callee -> {parameter: values}
ELSEWHERE = "*"  # in Args: the callee is called in its own file and in others


class _Join:
    def __init__(self, summaries, modules, resolve: Callable, functions: Dict, table):
        self.summaries = summaries
        self.modules = modules
        self.by_module = dict(zip(modules, summaries))
        self.resolve = resolve
        self.functions = functions  # qualified -> (module, summary, FunctionSummary)
        self.table = table  # project_modes.ClassTable
        self.short: Dict[str, List[str]] = {}
        for q in list(functions) + list(table.classes):
            self.short.setdefault(q.rsplit(".", 1)[-1], []).append(q)
        self.sites: Dict[str, List[tuple]] = {}  # callee -> [(module, summary, caller key, args, kws)]
        self.dead: Set[str] = set()
        self.callers: Dict[str, Set[str]] = {}  # callee -> the modules calling it (or using it as a value)
        self._memo: Dict[Tuple[str, int], Optional[Tuple[str, ...]]] = {}

    def callees(self, written: str, module: str, summary) -> List[str]:
        """The project functions or classes a name as written may be (several: any of them)."""
        q = self.resolve(written, module, summary)
        for _ in range(_DEPTH):  # through a package's re-exports (`from .resnet import resnet18` in __init__)
            if q in self.functions or q in self.table.classes:
                return [q]
            mod, _, name = q.rpartition(".")
            s = self.by_module.get(mod)
            if s is None or name not in s.imports:
                break
            q = self.resolve(name, mod, s)  # relative imports of a package's __init__ start at the package
        return list(self.short.get(q.rsplit(".", 1)[-1], ()))  # an import we could not resolve: any of that name

    def collect(self) -> None:
        for module, s in zip(self.modules, self.summaries):
            cs = s.sites
            for name in cs.dead:
                for q in self.callees(name, module, s):
                    self.dead.add(q)
                    self.callers.setdefault(q, set()).add(module)
            for name in cs.decorated:
                self.dead.add(f"{module}.{name}" if module else name)
            for key, sites in cs.calls.items():
                for callee, args, kws in sites:
                    for q in self.callees(callee, module, s):
                        self.sites.setdefault(q, []).append((module, s, key, args, kws))
                        self.callers.setdefault(q, set()).add(module)
        for facts in self.table.classes.values():  # a subclass calls its base's __init__ in ways not recorded
            for b in facts.bases:
                found = self.table.find(b)
                if found is not None:
                    self.dead.add(found)

    def params(self, q: str) -> Optional[List[str]]:
        if q in self.functions:
            return list(self.functions[q][2].params)
        module, _, name = q.rpartition(".")
        s = self.by_module.get(module)
        return list(s.sites.init_params[name]) if s is not None and name in s.sites.init_params else None

    def values(self, q: str, i: int, depth: int = 0) -> Optional[Tuple[str, ...]]:
        """What every call of `q` passes as its parameter `i` (an `__init__`'s `self` is 0); None: unknown."""
        key = (q, i)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = None  # a cycle: unknown
        got = self._values(q, i, depth)
        self._memo[key] = got
        return got

    def _values(self, q: str, i: int, depth: int) -> Optional[Tuple[str, ...]]:
        params = self.params(q)
        sites = self.sites.get(q)
        if q in self.dead or not sites or params is None or i >= len(params) or depth > _DEPTH:
            return None
        is_class = q in self.table.classes
        pos, name = (i - 1 if is_class else i), params[i]
        if pos < 0:
            return None
        out: Set[str] = set()
        for module, s, caller, args, kws in sites:
            d = args[pos] if pos < len(args) else kws.get(name)
            got = self._resolve_value(d, module, s, caller, depth) if d else None
            if got is None:
                return None
            out.update(got)
            if len(out) > _MAX_VALUES:
                return None
        return tuple(sorted(out))

    def _resolve_value(self, d: str, module: str, s, caller: str, depth: int) -> Optional[Tuple[str, ...]]:
        if d == "P":
            return ("P",)
        if d.startswith("c:"):
            quals = self.callees(d[2:], module, s)
            q = quals[0] if len(quals) == 1 else self.resolve(d[2:], module, s)
            return (f"c:{q}",)
        cls, _, method = caller.rpartition(".")
        owner = f"{module}.{cls}" if module and cls else cls
        if d.startswith("s:"):
            ctor = self.table.attr_constructor(owner, d[2:]) if cls else None
            return (f"c:{ctor}",) if ctor else None
        if d.startswith("p") and d[1:].isdigit() and caller not in ("", "?"):
            i = int(d[1:])
            if cls and i == 0:
                return (f"c:{owner}",)  # a method's `self`: an instance of its class
            if cls:
                return self.values(owner, i, depth + 1) if method == "__init__" else None
            return self.values(f"{module}.{caller}" if module else caller, i, depth + 1)
        return None


def join(summaries, modules, resolve, functions, table) -> Args:
    """qualified callee -> {parameter: the values every call site passes} (only parameters with an answer)."""
    tops = {m.split(".")[0] for m in modules if m}
    if tops & EXTERNAL_ROOTS:
        return {}  # the project is one of the libraries whose calls the summaries skip: its sites are not all known
    j = _Join(summaries, modules, resolve, functions, table)
    j.collect()
    out: Args = {}
    for q, mods in j.callers.items():  # called in its own file and in others: the file's own calls are not all
        if len(mods) > 1 and q.rpartition(".")[0] in mods:
            out[q] = {ELSEWHERE: ()}
    for q in j.sites:
        if q in j.dead:
            continue
        params = j.params(q) or []
        for i, name in enumerate(params):
            got = j.values(q, i)
            if got:
                out.setdefault(q, {})[name] = got
    return out


def stored_attrs(args: Args, summaries, modules, functions, resolve, table) -> Dict[str, Dict[str, str]]:
    """qualified class -> {attr: the constructor (qualified) of what `self.attr = param` holds}, when every call
    passes one thing: a class (a factory's one class, through its returns), or a library class."""
    out: Dict[str, Dict[str, str]] = {}
    for module, s in zip(modules, summaries):
        for cls, stored in s.sites.stored.items():
            q = f"{module}.{cls}" if module else cls
            known = args.get(q)
            if not known:
                continue
            for attr, (param, _) in stored.items():
                values = known.get(param, ())
                ctors = {_class_of(v[2:], functions, resolve, table) if v.startswith("c:") else None for v in values}
                if len(ctors) == 1 and None not in ctors:
                    out.setdefault(q, {})[attr] = ctors.pop()
    return out


def store_attrs(args: Args, summaries, modules, functions, resolve, table) -> None:
    """Adds to `table` (`project_modes.ClassTable`) the class each `self.x = x` of an `__init__` holds (`stored_attrs`),
    where the class does not already say what `self.x` is built from."""
    if not args:
        return
    for q, attrs in stored_attrs(args, summaries, modules, functions, resolve, table).items():
        facts = table.classes[q]
        extra = tuple((a, c) for a, c in attrs.items() if a not in dict(facts.attrs))
        table.classes[q] = dataclasses.replace(facts, attrs=facts.attrs + extra)


def _class_of(q: str, functions, resolve, table) -> Optional[str]:
    for _ in range(_DEPTH):
        if q not in functions:
            return q if table.find(q) is not None or "." in q else None
        module, s, f = functions[q]
        if f.returns_also or not f.returns:
            return None
        q = resolve(f.returns, module, s)
    return None


def param_kind(facts, scope, name: str, same_file: Kind = UNKNOWN) -> Kind:
    """A parameter of a module-level function, or of a class's `__init__`, by what every call site in the
    project passes (`ProjectIndex.call_args`); UNKNOWN when they do not all say, or disagree. `same_file`:
    what the file's own calls say (`facts`), the answer unless other files call it too."""
    func = scope.node
    if scope.parent is not facts.module_scope or not facts.project.call_args_table:
        return same_file
    if scope.class_name:
        if getattr(func, "name", None) != "__init__" or len(facts.classes.get(scope.class_name, ())) != 1:
            return same_file
        owner = scope.class_name
    elif len(facts.functions.get(func.name, ())) == 1:
        owner = func.name
    else:
        return same_file
    q = f"{facts.module_name}.{owner}" if facts.module_name else owner
    if same_file != UNKNOWN and facts.project.call_args(q, ELSEWHERE) is None:
        return same_file
    values = facts.project.call_args(q, name)
    if not values:
        return UNKNOWN
    kinds = []
    for v in values:
        if v == "P":
            kinds.append(Kind(PARAM_ITER))
            continue
        k = facts.constructor_kind(v[2:]) or facts._factory_kind(v[2:])
        if not (k.is_module() or k.tag == PARAM_ITER):
            return UNKNOWN
        kinds.append(k)
    return join_kinds(kinds)
