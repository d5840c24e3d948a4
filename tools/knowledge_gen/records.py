"""The value vocabulary and the records of a file summary, and the `Encoder` that turns
expressions into values (summarize.py reads files with them; functions.py walks bodies with them).

One source file -> a small `FileSummary` (the AST is dropped right after).

Names are resolved through the file's own imports at this stage, so every value
that refers to something outside the function is an absolute dotted name
(`("n", "torch.nn.Linear")`); resolving that name through re-exports happens
later, over all files (resolve.py).

Values are tuples (cheap, hashable):
    ("c",)                 data: constants, f-strings, arithmetic, lambdas
    ("n", dotted)          a global name (class, function, module, variable)
    ("b", name)            a builtin
    ("l", name)            a local variable of the function (see FuncSummary.locals)
    ("a", name, ann)       an argument without a default (ann: dotted annotation or None)
    ("s",)                 self
    ("sup", attr)          super().attr
    ("at", value, attr)    attribute of a non-global value
    ("call", func, args)   a call; args: positional then keyword values
    ("seq", values)        list/tuple/set literal, comprehension element, `*x`
    ("elem", value)        an element of an iterable (for targets, comprehension vars)
    ("sub", value)         a subscript of a value
    ("or", values)         one of several (IfExp, BoolOp)
    ("u",)                 unknown
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

Value = tuple
CONST: Value = ("c",)
UNKNOWN: Value = ("u",)
_BUILTINS = frozenset(dir(builtins))


@dataclass
class FuncSummary:
    name: str
    args: List[str] = field(default_factory=list)
    kind: str = "def"  # def | classmethod | staticmethod | property
    decorators: List[Value] = field(default_factory=list)
    returns: List[Value] = field(default_factory=list)
    annotation: Optional[str] = None  # dotted return annotation (first module-ish name in it)
    annotation_names: List[str] = field(default_factory=list)  # every dotted name in it
    locals: Dict[str, List[Value]] = field(default_factory=dict)
    effects: List[Tuple[str, str, Value]] = field(default_factory=list)  # (kind, attr, value)
    self_calls: List[str] = field(default_factory=list)
    constructs: Set[str] = field(default_factory=set)  # dotted global names called anywhere in the body
    source_hints: Set[str] = field(default_factory=set)  # e.g. "requires_grad_check"


@dataclass
class ClassSummary:
    name: str
    bases: List[str] = field(default_factory=list)
    decorators: List[Value] = field(default_factory=list)
    methods: Dict[str, FuncSummary] = field(default_factory=dict)
    attrs: Dict[str, Value] = field(default_factory=dict)  # class-body assignments


@dataclass
class FileSummary:
    module: str
    is_package: bool
    bindings: Dict[str, List[Tuple[int, str]]] = field(default_factory=dict)  # name -> [(priority, dotted)]
    stars: List[str] = field(default_factory=list)
    all_names: Optional[List[str]] = None
    classes: Dict[str, ClassSummary] = field(default_factory=dict)
    functions: Dict[str, FuncSummary] = field(default_factory=dict)
    variables: Dict[str, Value] = field(default_factory=dict)  # module-level `X = value`


def dotted(node: ast.AST) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _strings(node: ast.AST) -> Optional[List[str]]:
    if isinstance(node, (ast.List, ast.Tuple)):
        out = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return out if len(out) == len(node.elts) else None
    return None


def annotation_names(enc: "Encoder", node: ast.AST) -> List[str]:
    """The dotted names an annotation mentions (`Optional[nn.Module]` -> typing.Optional,
    torch.nn.Module), string annotations included; builtins as `builtins.int`."""
    inner = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    out: List[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            try:
                out += annotation_names(enc, ast.parse(n.value, mode="eval").body)
            except (SyntaxError, ValueError, RecursionError):
                pass
        elif isinstance(n, (ast.Name, ast.Attribute)) and id(n) not in inner:
            v = enc.value(n)
            if v[0] == "n":
                out.append(v[1])
            elif v[0] == "b":
                out.append("builtins." + v[1])
    return out


class Encoder:
    """Turns expressions into Values; `local_names` are the function's locals."""

    def __init__(self, reader: _FileReader, local_names: Optional[Set[str]], self_name: Dict[str, str]):
        self.r = reader
        self.locals = local_names or set()
        self.self_name = self_name.get("self")

    def value(self, node: Optional[ast.AST]) -> Value:
        if node is None:
            return CONST
        if isinstance(node, ast.Name):
            if node.id == self.self_name:
                return ("s",)
            if node.id in self.locals:
                return ("l", node.id)
            return self.r.global_name(node.id)
        if isinstance(node, ast.Attribute):
            base = self.value(node.value)
            if base[0] == "n":
                return ("n", f"{base[1]}.{node.attr}")
            if base[0] == "c":
                return CONST
            return ("at", base, node.attr)
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Call) and dotted(f.value.func) == "super":
                func: Value = ("sup", f.attr)
            else:
                func = self.value(f)
            args = tuple(self.value(a) for a in node.args) + tuple(self.value(k.value) for k in node.keywords)
            return ("call", func, args)
        if isinstance(node, ast.Constant) or isinstance(node, (ast.JoinedStr, ast.Lambda, ast.Compare)):
            return CONST
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return ("seq", tuple(self.value(e) for e in node.elts))
        if isinstance(node, ast.Starred):
            return ("seq", (("elem", self.value(node.value)),))
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return ("seq", (self.comprehension(node, node.elt),))
        if isinstance(node, ast.Dict):
            return ("seq", tuple(self.value(v) for v in node.values))
        if isinstance(node, ast.DictComp):
            return ("seq", (self.comprehension(node, node.value),))
        if isinstance(node, ast.IfExp):
            return ("or", (self.value(node.body), self.value(node.orelse)))
        if isinstance(node, ast.BoolOp):
            return ("or", tuple(self.value(v) for v in node.values))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):
                return ("or", (self.value(node.left), self.value(node.right)))
            return CONST
        if isinstance(node, ast.UnaryOp):
            return CONST
        if isinstance(node, ast.Subscript):
            return ("sub", self.value(node.value))
        if isinstance(node, ast.NamedExpr):
            return self.value(node.value)
        if isinstance(node, ast.Await):
            return UNKNOWN
        return UNKNOWN

    def comprehension(self, node, elt: ast.AST) -> Value:
        names = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        inner = Encoder(self.r, self.locals | names, {"self": self.self_name} if self.self_name else {})
        # comprehension variables: an element of the first iterable (enough for `Block() for _ in range(n)`)
        return _substitute(inner.value(elt), names, ("elem", self.value(node.generators[0].iter)))


def _substitute(v: Value, names: Set[str], replacement: Value) -> Value:
    if v[:1] == ("l",) and v[1] in names:
        return replacement
    return tuple(_substitute(x, names, replacement) if isinstance(x, tuple) and x else x for x in v)


