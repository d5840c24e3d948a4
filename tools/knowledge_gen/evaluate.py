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

from .class_facts import ClassFacts
from .kinds import CONTAINERS, DATA, PARAM, PRETRAINED_CLASSMETHODS, UNK, K, join
from .resolve import MODULE, Index
from .records import FuncSummary, Value

DATA_CALLABLES = frozenset(  # functions whose results are plain data, named because their body is a closure
    f"torch.nn.modules.utils.{n}" for n in ("_single", "_pair", "_triple", "_quadruple", "_ntuple", "_reverse_repeat_tuple")
)
_SEQ_BUILTINS = frozenset({"list", "tuple", "sorted", "reversed", "set", "dict", "iter"})
_UNKNOWN_BUILTINS = frozenset({"getattr", "eval", "exec", "vars", "next", "super", "__import__", "globals"})
_CONFIG_ARG_NAMES = frozenset({"config", "cfg", "conf", "hparams", "opt", "args", "configs"})
_DATA_ARG_NAMES = frozenset({
    "eps", "p", "dim", "dims", "nf", "nx", "dropout", "bias", "heads", "depth", "stride", "padding",
    "kernel_size", "dilation", "groups", "scale", "alpha", "beta", "gamma", "temperature", "layer_idx",
    "index", "name", "mode", "device", "dtype", "channels", "features", "size", "shape", "inplace",
})
_MAX_DEPTH = 8
# Names outside the sources whose values and call results are never Modules: torch's C functions
# and dtypes (`torch.zeros`, `torch.float32`), the standard library, numpy.
_DATA_PREFIXES = tuple(p + "." for p in (
    "torch", "math", "re", "os", "json", "warnings", "logging", "inspect", "time", "string", "textwrap",
    "operator", "random", "sys", "enum", "dataclasses", "pathlib", "itertools", "collections", "numpy", "np",
))
_COLLECTING_CALLS = frozenset({"collections.OrderedDict", "itertools.chain", "collections.deque"})
_HANDLE_METHODS = frozenset({"parameters", "named_parameters", "buffers", "named_buffers", "state_dict",
                             "named_modules", "named_children", "modules", "children"})
_OPAQUE_TYPING = frozenset({"typing.Any", "typing.Callable", "typing.TypeVar", "typing_extensions.Any"})
_DATA_TYPING = frozenset({"None", "collections.abc.Sequence", "collections.abc.Mapping", "collections.abc.Iterable"})


def _data_arg_name(name: str) -> bool:
    """An unannotated argument without a default that by its name holds a number, flag or config
    (`num_layers`, `hidden_size`, `eps`): how real code names them, not a type."""
    return (
        name in _CONFIG_ARG_NAMES or name in _DATA_ARG_NAMES
        or name.startswith(("num_", "n_", "max_", "min_", "use_", "is_", "has_", "do_", "in_", "out_"))
        and not name.endswith(("module", "model", "layer", "proj", "block", "net"))
        or name.endswith(("_dim", "_dims", "_size", "_sizes", "_features", "_channels", "_idx", "_id", "_rate",
                          "_prob", "_eps", "_ratio", "_type", "_name", "_mode", "_heads", "_layers", "_shape"))
    )


def _ordered(kinds) -> list:
    """A fixed order for kinds whose evaluation recurses: memoised results then never depend on
    the hash seed (the torch part must regenerate byte for byte)."""
    return sorted(kinds, key=repr)


def _children(v: Value):
    for x in v[1:]:
        if isinstance(x, tuple) and x:
            if isinstance(x[0], tuple):  # a tuple of values (call arguments, sequence items)
                yield from (y for y in x if isinstance(y, tuple) and y)
            else:
                yield x


class Evaluator(ClassFacts):
    def __init__(self, index: Index) -> None:
        self.ix = index
        self.module_memo: Dict[str, bool] = {}
        self.facts_memo: Dict[str, Tuple[Optional[bool], Optional[bool]]] = {}
        self._busy: Set[object] = set()
        self._returns_memo: Dict[object, FrozenSet[K]] = {}
        self.returns_self: FrozenSet[str] = frozenset()  # filled from torch's Module first (callables.py)

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
            if not ctx[0]:
                return frozenset({UNK})
            return frozenset({("mod", ctx[0], None, None) if self.is_module(ctx[0]) else DATA})
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
            return frozenset({DATA if dotted.startswith(_DATA_PREFIXES) else UNK})
        if r in self.ix.classes:
            return frozenset({("cls", r, False, False)})
        if r in self.ix.functions:
            return frozenset({("fn", r, False, False)})
        owner, _, attr = r.rpartition(".")
        if owner in self.ix.classes:  # `AutoModel.from_config` used as a value or called
            return frozenset({("meth", r, False, False)})
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
            return DATA if _data_arg_name(name) else UNK
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
            if r in self.ix.variables and self.alias_may_be_module(self.ix.variables[r], 0):
                return UNK  # `T = TypeVar("T", bound=Module)`
            if r not in self.ix.classes and r not in self.ix.variables:
                return UNK  # a module object or a function: not a type we know
        return DATA

    def alias_may_be_module(self, v: Value, depth: int) -> bool:
        """A type alias that may name a Module: a TypeVar, `Union[nn.Module, str]`, `Any`."""
        if depth > 3:
            return True
        if v[0] == "n":
            if v[1] in _OPAQUE_TYPING or v[1].endswith("TypeVar"):
                return True
            r = self.ix.resolve(v[1])
            if r in self.ix.variables:
                return self.alias_may_be_module(self.ix.variables[r], depth + 1)
            return r == MODULE or (r in self.ix.classes and self.is_module(r))
        return any(self.alias_may_be_module(x, depth) for x in _children(v))

    def attribute(self, base: Value, attr: str, ctx, depth: int) -> FrozenSet[K]:
        if attr.startswith("__") and attr.endswith("__"):
            return frozenset({DATA})  # `self.__class__.__name__`
        if base == ("s",) and ctx[0]:
            values = [v for owner, f in self.reached_methods(ctx[0]) for kind, a, v in f.effects if kind == "set" and a == attr]
            values += [self.ix.classes[a].attrs[attr] for a in self.ix.mro(ctx[0]) if attr in self.ix.classes[a].attrs]
            key = ("self", ctx[0], attr)
            if not values:
                owner, f = self.ix.method(ctx[0], attr)
                if f is not None and f.kind == "property":
                    return self.returns(owner, f, ctx[0], depth)
                return frozenset({DATA if f is not None else UNK})  # a bound method is no submodule
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
        if func[0] == "n" and func[1] in _COLLECTING_CALLS:  # `Sequential(OrderedDict([("conv", conv)]))`
            return self.eval(("seq", tuple(("elem", a) for a in args)), ctx, depth + 1)
        if func[0] == "n" and func[1].startswith(_DATA_PREFIXES) and self.ix.resolve(func[1]) is None:
            return frozenset({DATA})  # `torch.zeros(3)`, `re.findall(...)`: tensors and plain values
        if func[0] == "call" and func[1][0] == "n" and self.ix.resolve(func[1][1]) in DATA_CALLABLES:
            return frozenset({DATA})  # `_ntuple(6)(padding)`
        if func[0] == "n" and func[1] in ("copy.deepcopy", "copy.copy") and args:
            return self.eval(args[0], ctx, depth + 1)
        if func[0] == "sup":
            if ctx[0] is None or ctx[2] is None:
                return frozenset({UNK})
            owner, f = self.ix.method(ctx[0], func[1], below=ctx[2])
            return self.returns(owner, f, ctx[0], depth) if f is not None else frozenset({UNK})
        if func == ("s",) and ctx[0]:  # `cls(...)` in a classmethod
            return frozenset(self.call_kind(("cls", ctx[0], False, False), args, ctx, depth))
        if func[0] == "at" and func[1] == ("s",) and ctx[0]:
            owner, f = self.ix.method(ctx[0], func[2])
            if f is not None and f.kind != "property":
                return self.returns(owner, f, ctx[0], depth)
            if f is None:  # `self.generation_config_class()`: an attribute holding a class
                out = set()
                for k in _ordered(self.attribute(("s",), func[2], ctx, depth + 1)):
                    out |= self.call_kind(k, args, ctx, depth)
                return frozenset(out) or frozenset({UNK})
            return frozenset({UNK})
        if func[0] == "n" and func[1] == "functools.partial" and args:
            return self.eval(args[0], ctx, depth + 1)  # calling the partial calls its first argument
        if func[0] == "at":
            return self.method_call(func[1], func[2], ctx, depth)
        out = set()
        for k in _ordered(self.eval(func, ctx, depth + 1)):
            out |= self.call_kind(k, args, ctx, depth)
        return frozenset(out) or frozenset({UNK})

    def call_kind(self, k: K, args, ctx, depth: int) -> Set[K]:
        tag, q = k[0], k[1]
        if tag == "cls":
            if self.is_param_class(q):
                return {PARAM}
            if not self.is_module(q):
                return {DATA}
            p, b = self.class_facts(q)
            if q in CONTAINERS:
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
        if tag == "meth":
            owner, _, name = q.rpartition(".")
            if self.is_module(owner) and name in PRETRAINED_CLASSMETHODS:
                return {("mod", owner) + self.class_facts(owner)}
            o, f = self.ix.method(owner, name)
            return set(self.returns(o, f, owner, depth)) if f is not None and f.kind != "property" else {UNK}
        if tag == "data":
            return set()  # calling None (an unset default) never happens
        return {UNK}

    def method_call(self, base: Value, attr: str, ctx, depth: int) -> FrozenSet[K]:
        if attr in _HANDLE_METHODS or attr.startswith("register_") and attr.endswith("hook"):
            return frozenset({DATA})  # hook handles, parameter iterators: stored, they register nothing
        out = set()
        for k in _ordered(self.eval(base, ctx, depth + 1)):
            if k[0] in ("data", "param", "fn", "meth"):
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
                inside = {k for k in result if k[0] == "mod" and k[1]
                          and any(self.ix.is_subclass(k[1], a) or a == MODULE for a in ann_module)}
                if not inside or UNK in result:  # some path the body does not name: the annotation's classes
                    inside |= {("mod", a) + (self.class_facts(a) if a != MODULE else (None, None)) for a in ann_module}
                result = frozenset(inside)
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
            elif not a.startswith("typing.") or a.endswith(".Self"):
                return None, None
        if modules:
            return None, modules
        if not kinds:  # only `Self`, `Optional`...: the body decides
            return None, None
        return frozenset(kinds), None
