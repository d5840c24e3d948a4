"""What a summarized value is, in the terms the knowledge base needs.

`Evaluator.eval(value, ctx)` gives a set of kinds, each a tuple
`(tag, qualname, params, batchnorm)`:
    data   anything that is not a Module or a Parameter (numbers, tensors, configs, None)
    param  an nn.Parameter
    mod    a Module instance of class `qualname` (params/batchnorm: what it holds, True/False/None)
    cls    a class object;  fn  a function object
    seq    a plain list/tuple/dict (params/batchnorm: of its elements)
    unk    unknown
Facts are tri-state: True, False, None (unknown); `join` is "any True wins, then unknown".
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional, Set, Tuple

from .resolve import MODULE, Index
from .summarize import FuncSummary, Value

K = Tuple[str, Optional[str], Optional[bool], Optional[bool]]
DATA: K = ("data", None, False, False)
UNK: K = ("unk", None, None, None)
PARAM: K = ("param", None, True, False)
PARAMETER_CLASSES = ("torch.nn.parameter.Parameter", "torch.nn.parameter.UninitializedParameter")
DATA_CALLABLES = frozenset(  # functions whose results are plain data, named because their body is a closure
    f"torch.nn.modules.utils.{n}" for n in ("_single", "_pair", "_triple", "_quadruple", "_ntuple", "_reverse_repeat_tuple")
)
_SEQ_BUILTINS = frozenset({"list", "tuple", "sorted", "reversed", "set", "dict", "iter"})
_UNKNOWN_BUILTINS = frozenset({"getattr", "eval", "exec", "vars", "next", "super", "__import__", "globals"})
_CONFIG_ARG_NAMES = frozenset({"config", "cfg", "conf", "hparams", "opt", "args", "configs"})
_NEUTRAL_BASE_PREFIXES = ("typing.", "abc.", "builtins.", "enum.", "collections.", "object", "Generic", "ABC", "Protocol")
_MAX_DEPTH = 8
_OPAQUE_TYPING = frozenset({"typing.Any", "typing.Callable", "typing.TypeVar", "typing_extensions.Any"})
_DATA_TYPING = frozenset({"None", "collections.abc.Sequence", "collections.abc.Mapping", "collections.abc.Iterable"})


def join(a: Optional[bool], b: Optional[bool]) -> Optional[bool]:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def stored(k: K) -> Tuple[Optional[bool], Optional[bool]]:
    """What assigning `k` to `self.x` adds to the module (a plain list registers nothing)."""
    if k[0] in ("mod", "param", "unk"):
        return k[2], k[3]
    return False, False


class Evaluator:
    def __init__(self, index: Index) -> None:
        self.ix = index
        self.module_memo: Dict[str, bool] = {}
        self.facts_memo: Dict[str, Tuple[Optional[bool], Optional[bool]]] = {}
        self._busy: Set[object] = set()
        self._returns_memo: Dict[object, FrozenSet[K]] = {}
        self.returns_self: FrozenSet[str] = frozenset()  # filled from torch's Module first (callables.py)

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
        from .classes import CONTAINERS, is_batchnorm_class

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

    # -- values -------------------------------------------------------------------------
    def eval(self, v: Value, ctx, depth: int = 0) -> FrozenSet[K]:
        if depth > _MAX_DEPTH:
            return frozenset({UNK})
        tag = v[0]
        if tag == "c":
            return frozenset({DATA})
        if tag == "n":
            return self.name(v[1], depth)
        if tag == "b":
            return frozenset({("fn", "builtins." + v[1], False, False)})
        if tag == "l":
            func: Optional[FuncSummary] = ctx[1]
            values = func.locals.get(v[1], ()) if func is not None else ()
            key = ("l", id(func), v[1])
            if not values:
                return frozenset({UNK})
            if key in self._busy:  # `x = x + 1`: the cycle adds nothing the other values do not
                return frozenset()
            self._busy.add(key)
            try:
                return frozenset().union(*(self.eval(x, ctx, depth + 1) for x in values))
            finally:
                self._busy.discard(key)
        if tag == "a":
            return frozenset({self.argument(v[1], v[2])})
        if tag == "s":
            return frozenset({("mod", ctx[0], None, None)}) if ctx[0] else frozenset({UNK})
        if tag == "at":
            return self.attribute(v[1], v[2], ctx, depth)
        if tag == "call":
            return self.call(v[1], v[2], ctx, depth)
        if tag == "seq":
            p, b = False, False
            for x in v[1]:
                for k in self.eval(x, ctx, depth + 1):
                    kp, kb = (k[2], k[3]) if k[0] in ("mod", "param", "unk", "seq") else (False, False)
                    p, b = join(p, kp), join(b, kb)
            return frozenset({("seq", None, p, b)})
        if tag in ("elem", "sub"):
            out = set()
            for k in self.eval(v[1], ctx, depth + 1):
                if k[0] == "seq":
                    out.add(("unk", None, k[2], k[3]) if (k[2], k[3]) != (False, False) else DATA)
                elif k[0] in ("data", "param"):
                    out.add(DATA)
                else:
                    out.add(UNK)
            return frozenset(out)
        if tag == "or":
            return frozenset().union(*(self.eval(x, ctx, depth + 1) for x in v[1]))
        return frozenset({UNK})

    def name(self, dotted: str, depth: int) -> FrozenSet[K]:
        r = self.ix.resolve(dotted)
        if r is None:
            # torch's C functions and dtypes (`torch.zeros`, `torch.float32`) are not in the sources
            return frozenset({DATA if dotted.startswith("torch.") or dotted.startswith("math.") else UNK})
        if r in self.ix.classes:
            return frozenset({("cls", r, False, False)})
        if r in self.ix.functions:
            return frozenset({("fn", r, False, False)})
        if r in self.ix.variables:
            key = ("var", r)
            if key in self._busy:
                return frozenset({UNK})
            self._busy.add(key)
            try:
                return self.eval(self.ix.variables[r], (None, None, None), depth + 1)
            finally:
                self._busy.discard(key)
        return frozenset({DATA})  # a module object

    def argument(self, name: str, anns: Optional[Tuple[str, ...]]) -> K:
        """An argument without a default: its annotation says whether it can be a Module."""
        if anns is None:
            return DATA if name in _CONFIG_ARG_NAMES else UNK
        for ann in anns:
            if ann.startswith("builtins.") or ann in _DATA_TYPING:
                continue
            if ann.startswith("typing.") and ann not in _OPAQUE_TYPING:
                continue
            r = self.ix.resolve(ann)
            if r is None:
                if ann.startswith("torch."):
                    continue
                return UNK
            if r in self.ix.classes and self.is_module(r) or r == MODULE:
                return UNK
            if r not in self.ix.classes and r not in self.ix.variables:
                return UNK  # a module object or a function: not a type we know
        return DATA

    def attribute(self, base: Value, attr: str, ctx, depth: int) -> FrozenSet[K]:
        if base == ("s",) and ctx[0]:
            values = [v for owner, f in self.reached_methods(ctx[0]) for kind, a, v in f.effects if kind == "set" and a == attr]
            values += [self.ix.classes[a].attrs[attr] for a in self.ix.mro(ctx[0]) if attr in self.ix.classes[a].attrs]
            key = ("self", ctx[0], attr)
            if not values:
                return frozenset({UNK})
            if key in self._busy:
                return frozenset()
            self._busy.add(key)
            try:
                out = set()
                for a in self.ix.mro(ctx[0]):  # class-level defaults: `generation_config_class = GenerationConfig`
                    if attr in self.ix.classes[a].attrs:
                        out |= self.eval(self.ix.classes[a].attrs[attr], (ctx[0], None, a), depth + 1)
                for owner, f in self.reached_methods(ctx[0]):
                    for kind, a, v in f.effects:
                        if kind == "set" and a == attr:
                            out |= self.eval(v, (ctx[0], f, owner), depth + 1)
                return frozenset(out)
            finally:
                self._busy.discard(key)
        out = set()
        for k in self.eval(base, ctx, depth + 1):
            out.add(DATA if k[0] in ("data", "param", "cls", "fn") else UNK)
        return frozenset(out)

    def call(self, func: Value, args, ctx, depth: int) -> FrozenSet[K]:
        if func[0] == "n" and self.ix.resolve(func[1]) in DATA_CALLABLES:
            return frozenset({DATA})
        if func[0] == "call" and func[1][0] == "n" and self.ix.resolve(func[1][1]) in DATA_CALLABLES:
            return frozenset({DATA})  # `_ntuple(6)(padding)`
        if func[0] == "n" and func[1] in ("copy.deepcopy", "copy.copy") and args:
            return self.eval(args[0], ctx, depth + 1)
        if func[0] == "sup":
            if ctx[0] is None or ctx[2] is None:
                return frozenset({UNK})
            owner, f = self.ix.method(ctx[0], func[1], below=ctx[2])
            return self.returns(owner, f, ctx[0], depth) if f is not None else frozenset({UNK})
        if func[0] == "at" and func[1] == ("s",) and ctx[0]:
            owner, f = self.ix.method(ctx[0], func[2])
            if f is not None and f.kind != "property":
                return self.returns(owner, f, ctx[0], depth)
            return frozenset({UNK})
        if func[0] == "at":
            return self.method_call(func[1], func[2], ctx, depth)
        out = set()
        for k in self.eval(func, ctx, depth + 1):
            out |= self.call_kind(k, args, ctx, depth)
        return frozenset(out) or frozenset({UNK})

    def call_kind(self, k: K, args, ctx, depth: int) -> Set[K]:
        from .classes import CONTAINERS

        tag, q = k[0], k[1]
        if tag == "cls":
            if self.is_param_class(q):
                return {PARAM}
            if not self.is_module(q):
                return {DATA}
            p, b = self.class_facts(q)
            if any(c in self.ix.mro(q) for c in CONTAINERS) and q in CONTAINERS:
                p, b = False, False
                for k2 in self.eval(("seq", tuple(args)), ctx, depth + 1):
                    p, b = join(p, k2[2]), join(b, k2[3])
            return {("mod", q, p, b)}
        if tag == "fn":
            if q in DATA_CALLABLES:
                return {DATA}
            if q.startswith("builtins."):
                name = q[len("builtins."):]
                if name in _SEQ_BUILTINS and args:
                    return set(self.eval(("seq", (("elem", args[0]),)), ctx, depth + 1))
                return {UNK} if name in _UNKNOWN_BUILTINS else {DATA}
            return set(self.returns(None, self.ix.functions[q], None, depth))
        if tag == "data":
            return set()  # calling None (an unset default) never happens
        return {UNK}

    def method_call(self, base: Value, attr: str, ctx, depth: int) -> FrozenSet[K]:
        from .classes import PRETRAINED_CLASSMETHODS

        out = set()
        for k in self.eval(base, ctx, depth + 1):
            if k[0] in ("data", "param", "fn"):
                out.add(DATA)
            elif k[0] == "mod" and attr in self.returns_self:
                out.add(k)
            elif k[0] == "cls" and self.is_module(k[1]) and attr in PRETRAINED_CLASSMETHODS:
                out.add(("mod", k[1]) + self.class_facts(k[1]))
            elif k[0] == "cls":
                owner, f = self.ix.method(k[1], attr)
                out |= self.returns(owner, f, k[1], depth) if f is not None else {UNK}
            else:
                out.add(UNK)
        return frozenset(out)

    def returns(self, owner: Optional[str], f: FuncSummary, cls: Optional[str], depth: int) -> FrozenSet[K]:
        key = (owner, f.name, cls) if owner else id(f)
        if key in self._returns_memo:
            return self._returns_memo[key]
        if ("ret", key) in self._busy:  # recursion: the other returns decide
            return frozenset()
        self._busy.add(("ret", key))
        try:
            ann, ann_module = self.annotated(f)
            if ann is not None:
                result = ann
            elif "generator" in f.source_hints:
                result = frozenset({UNK})
            elif not f.returns:
                result = frozenset({DATA})
            else:
                ctx = (cls, f, owner)
                result = frozenset().union(*(self.eval(v, ctx, depth + 1) for v in f.returns))
            if ann_module:  # the annotation bounds the classes: `-> ResNet` despite `FeatureListNet(model)`
                inside = {k for k in result if k[0] == "mod" and k[1] and any(self.ix.is_subclass(k[1], a) or a == MODULE for a in ann_module)}
                result = frozenset(inside) or frozenset(
                    ("mod", a) + (self.class_facts(a) if a != MODULE else (None, None)) for a in ann_module)
        finally:
            self._busy.discard(("ret", key))
        self._returns_memo[key] = result
        return result

    def annotated(self, f: FuncSummary):
        """(kinds, None) when the return annotation says "not a Module"; (None, class) when it names a
        Module class (the body may still tell which subclass); (None, None) when it says nothing."""
        if not f.annotation_names:
            return None, None
        kinds = set()
        modules = []
        for a in f.annotation_names:
            r = self.ix.resolve(a)
            if r in self.ix.classes or r == MODULE:
                if self.is_module(r):
                    modules.append(r)
                else:
                    kinds.add(DATA)
            elif a.startswith(("builtins.", "torch.")) or a in ("None", "int", "float", "bool", "str"):
                kinds.add(DATA)
            elif not a.startswith("typing."):
                return None, None
        if modules:
            return None, modules
        return frozenset(kinds), None
