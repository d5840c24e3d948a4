"""Call sites of the file's own and imported names, with what the caller knows of each argument.

Caller -> callee evidence (`semantic/project.ProjectIndex.param_args` joins them): "parameter `p` of
`f` is a Module of class X" holds when every call site in the project passes one. So that silence
wins where the project's code is not all seen, this records every call of a name the file defines or
imports (except those of the standard library and of common libraries: `EXTERNAL_ROOTS`) that passes
something known; the names called with nothing known, or used other than as a callee (a function stored
in a dict, passed to `partial`: its calls are not seen), are only listed (`dead`), and so are the
top-level definitions carrying a decorator (a registry builds them from a config). Only the statements
whose lines mention one of those names are walked below the statement level (a regular expression
over the text finds them), so the cost follows the mentions, not the file's size.

An argument is written as a short string, or 0 when it is nothing the join can use (a constant, an
expression, a call of a lower-case library function); trailing 0s and 0 keywords are left out (a
parameter no site passes is unknown there anyway):
  "c:<callee as written>"  the value a call returns (`Net(cfg)`, `build(cfg).cuda()`, or a name of the
                           caller's scope bound once, by such a call) when the callee is a class name
                           (capitalised) or one of the file's own or imported names
  "p<i>"                   the caller's own parameter i (the project follows the caller's call sites)
  "s:<attr>"               `self.<attr>` in a method (the class's constructor for it)
  "P"                      an iterable of parameters (`m.parameters()`)
"""

from __future__ import annotations

import ast
import bisect
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from freezelint.static.parse.astutil import dotted_name
from freezelint.static.summaries.bound_once import Once

# never the project's own code (a project named like one of them turns the evidence off: project.py)
EXTERNAL_ROOTS = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset({
    "__future__", "torch", "numpy", "transformers", "torchvision", "torchaudio", "timm", "peft", "accelerate",
    "lightning", "pytorch_lightning", "datasets", "diffusers", "tokenizers", "huggingface_hub", "safetensors",
    "sklearn", "scipy", "pandas", "PIL", "cv2", "matplotlib", "seaborn", "tqdm", "einops", "wandb", "tensorboardX",
    "yaml", "omegaconf", "hydra", "mmcv", "mmengine", "detectron2", "fvcore", "deepspeed", "apex", "bitsandbytes",
    "jax", "tensorflow", "keras", "onnx", "h5py", "imageio", "skimage", "albumentations", "requests", "pytest",
    "absl", "fairseq", "spacy", "nltk", "gym", "ray", "setuptools", "sentencepiece", "open_clip", "easydict",
})
_SELF_RETURNING = frozenset({"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "train", "eval", "requires_grad_"})
_TYPE_TESTS = frozenset({"isinstance", "issubclass", "super", "type"})
_SELF_BUILDS = frozenset({"cls", "__class__", "type"})
_ROOT = ""  # the caller key of module-level code
_NESTED = "?"  # the caller key of nested functions, lambdas and class bodies: their parameters are nobody's

# (callee as written, positional descriptors, keyword descriptors); 0: nothing usable
Site = Tuple[str, List[object], Dict[str, object]]


@dataclass
class CallSites:
    # caller ("" module level, "f" a function, "C.m" a method) -> the sites in it passing something known
    calls: Dict[str, List[Site]] = field(default_factory=dict)
    # names (as written) called with nothing known, with `*args`/`**kw`, or used as values, not called
    dead: List[str] = field(default_factory=list)
    decorated: List[str] = field(default_factory=list)  # top-level functions and classes with a decorator
    init_params: Dict[str, List[str]] = field(default_factory=dict)  # class (with a base) -> its own __init__'s parameters
    # class -> {attr: (param, its position)}: `self.x = x` among its own __init__'s statements
    stored: Dict[str, Dict[str, Tuple[str, int]]] = field(default_factory=dict)
    # registries (semantic/registries.py): class -> the registries its decorators add it to (`@MODELS.register_module()`)
    registered: Dict[str, List[str]] = field(default_factory=dict)
    aliases: Dict[str, str] = field(default_factory=dict)  # module level `BACKBONES = MODELS`, bound once

    def to_json(self) -> list:
        calls = {k: [[c, a, kw] if kw else [c, a] for c, a, kw in v] for k, v in self.calls.items()}
        stored = {c: {a: list(p) for a, p in v.items()} for c, v in self.stored.items()}
        return [calls, self.dead, self.decorated, self.init_params, stored, self.registered, self.aliases]

    @classmethod
    def from_json(cls, data) -> "CallSites":
        calls, dead, decorated, init_params, stored, registered, aliases = data
        return cls(
            {k: [(s[0], list(s[1]), dict(s[2]) if len(s) > 2 else {}) for s in v] for k, v in calls.items()},
            list(dead), list(decorated), {c: list(v) for c, v in init_params.items()},
            {c: {a: (p[0], int(p[1])) for a, p in v.items()} for c, v in stored.items()},
            {c: list(v) for c, v in registered.items()}, dict(aliases),
        )

    def __bool__(self) -> bool:
        return bool(self.calls or self.dead or self.decorated or self.aliases)


def call_sites(tree: ast.Module, imports: Dict[str, str], text: Optional[str] = None) -> CallSites:
    """The file's call sites of names it defines at top level or imports (`imports`: the summary's).
    With the file's `text`, only the statements on lines mentioning one of those names are walked."""
    own = {s.name for s in _top_defs(tree.body)}
    heads = own | {n for n, target in imports.items()
                   if target.startswith(".") or target.split(".")[0] not in EXTERNAL_ROOTS}
    out = CallSites(aliases=_aliases(tree.body))
    if not heads:
        return out
    lines = None
    if text is not None:
        # a class building itself (`cls(...)`, `self.__class__(...)`, `type(self)(...)`) names no head
        lines = _mention_lines(text, heads | (_SELF_BUILDS if own else set()))
        if not lines:
            return out
    walrus = True if text is None else _walrus_names(text)
    _Collector(out, heads, lines, walrus).module(tree)
    return out


_REGISTER = frozenset({"register_module", "register"})


def _registry_of(decorator: ast.AST) -> Optional[str]:
    """`@MODELS.register_module()` / `@MODELS.register_module` / `@MODELS.register(...)` -> "MODELS"."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = dotted_name(target)
    if name is None or "." not in name:
        return None
    base, _, last = name.rpartition(".")
    return base if last in _REGISTER else None


def _aliases(body) -> Dict[str, str]:
    """Module-level `A = B` / `A = pkg.B` (names bound once at module level, by that assignment)."""
    out: Dict[str, str] = {}
    seen: Set[str] = set()
    for st in body:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            name = st.targets[0].id
            value = dotted_name(st.value) if isinstance(st.value, (ast.Name, ast.Attribute)) else None
            if name in seen:
                out.pop(name, None)
            elif value:
                out[name] = value
            seen.add(name)
    return out


def _mention_lines(text: str, heads: Set[str]) -> List[int]:
    """The lines (from 1) where one of `heads` occurs as a whole word."""
    return [i for i, line in enumerate(text.split("\n"), 1) if not heads.isdisjoint(_IDENT.findall(line))]


_IDENT = re.compile(r"[A-Za-z_]\w*")


def _walrus_names(text: str) -> frozenset:
    """The names a `:=` binds somewhere in the text (the identifier before each `:=`)."""
    out = set()
    pos = text.find(":=")
    while pos >= 0:
        end = pos
        while end > 0 and text[end - 1] in " \t":
            end -= 1
        start = end
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        if start < end:
            out.add(text[start:end])
        pos = text.find(":=", pos + 2)
    return frozenset(out)


def _top_defs(body) -> List[ast.stmt]:
    out = []
    for st in body:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(st)
        elif isinstance(st, (ast.If, ast.Try)):
            for block in [st.body, st.orelse] + [h.body for h in getattr(st, "handlers", ())] + [getattr(st, "finalbody", [])]:
                out.extend(_top_defs(block))
    return out


_HEADER_FIELDS = {
    ast.For: ("target", "iter"), ast.AsyncFor: ("target", "iter"), ast.While: ("test",), ast.If: ("test",),
    ast.With: ("items",), ast.AsyncWith: ("items",), ast.Try: ("handlers",),
}


class _Collector:
    def __init__(self, out: CallSites, heads: Set[str], lines: Optional[List[int]], walrus):
        self.out = out
        self.walrus = walrus
        self.heads = heads
        self.lines = lines  # None: every statement is walked
        self.dead: Set[str] = set()
        self.based: Set[str] = set()  # top-level classes with a base (a Module has one)
        self.module_chain: tuple = ()

    def module(self, tree: ast.Module) -> None:
        self.module_chain = (Once(tree.body, (), self.walrus),)
        for d in _top_defs(tree.body):
            if d.decorator_list:
                self.out.decorated.append(d.name)
            if isinstance(d, ast.ClassDef) and d.bases:
                self.based.add(d.name)
            if isinstance(d, ast.ClassDef):
                regs = [r for r in map(_registry_of, d.decorator_list) if r]
                if regs:
                    self.out.registered[d.name] = regs
        self._body(tree.body, (_ROOT, {}, self.module_chain, None))
        self.out.dead = sorted(self.dead)

    def _mentions(self, node: ast.AST) -> bool:
        if self.lines is None:
            return True
        first = getattr(node, "lineno", None)
        if first is None:
            return True
        i = bisect.bisect_left(self.lines, first)
        return i < len(self.lines) and self.lines[i] <= (getattr(node, "end_lineno", None) or first)

    # -- statements
    def _body(self, body, ctx) -> None:
        for st in body:
            if self._mentions(st):
                self._statement(st, ctx)

    def _statement(self, st: ast.stmt, ctx) -> None:
        key, params, chain, cls = ctx
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in st.decorator_list:
                self._decorator(d, ctx)
            for e in list(st.args.defaults) + [x for x in st.args.kw_defaults if x is not None]:
                self._visit(e, ctx, False)
            if key == _ROOT:
                self._function(st, f"{cls}.{st.name}" if cls else st.name, cls, None)
            else:
                self._function(st, _NESTED, cls, chain)
        elif isinstance(st, ast.ClassDef):
            for d in st.decorator_list:
                self._decorator(d, ctx)
            for e in list(st.bases) + [k.value for k in st.keywords]:
                if not (isinstance(e, (ast.Name, ast.Attribute)) and dotted_name(e)):
                    self._visit(e, ctx, False)  # a base class is subclassed, not called (project.py knows bases)
            inner = st.name if key == _ROOT and cls is None else None
            for m in st.body:
                if not self._mentions(m) and not (inner is not None and getattr(m, "name", None) == "__init__"):
                    continue  # (an __init__'s parameters and what it stores are recorded whatever it mentions)
                if inner is not None and isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for d in m.decorator_list:
                        self._decorator(d, ctx)
                    for e in list(m.args.defaults) + [x for x in m.args.kw_defaults if x is not None]:
                        self._visit(e, ctx, False)
                    self._function(m, f"{inner}.{m.name}", inner, None)
                else:
                    self._statement(m, (_NESTED if inner is not None else key, {} if inner else params, chain, inner or cls))
        elif type(st) in _HEADER_FIELDS or isinstance(st, ast.Match if hasattr(ast, "Match") else ()):
            fields = _HEADER_FIELDS.get(type(st), ("subject",))
            for f in fields:
                value = getattr(st, f)
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, ast.ExceptHandler):
                        if v.type is not None:
                            self._visit(v.type, ctx, False)
                        self._body(v.body, ctx)
                    else:
                        self._visit(v, ctx, False)
            for block in ("body", "orelse", "finalbody"):
                self._body(getattr(st, block, ()) or (), ctx)
            for case in getattr(st, "cases", ()) or ():
                if case.guard is not None:
                    self._visit(case.guard, ctx, False)
                self._body(case.body, ctx)
        else:
            self._visit(st, ctx, False)

    def _function(self, fn, key: str, cls: Optional[str], outer) -> None:
        a = fn.args
        names = [p.arg for p in list(a.posonlyargs) + list(a.args)] + [p.arg for p in a.kwonlyargs]
        params = {p: i for i, p in enumerate(names)}
        for extra in (a.vararg, a.kwarg):
            if extra is not None:
                params[extra.arg] = -1
        chain = (Once(fn.body, tuple(params), self.walrus),) + (outer if outer is not None else self.module_chain)
        self._body(fn.body, (key, params if outer is None else {}, chain, cls))
        if cls is not None and fn.name == "__init__" and outer is None and cls in self.based:
            self.out.init_params[cls] = names
            stored: Dict[str, Tuple[str, int]] = {}
            for st in fn.body:  # `self.x = x` among __init__'s own statements
                if (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.value, ast.Name)
                        and params.get(st.value.id, 0) > 0):
                    t = st.targets[0]
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == names[0]:
                        stored.setdefault(t.attr, (st.value.id, params[st.value.id]))
            if stored:
                self.out.stored[cls] = stored

    # -- expressions
    def _visit(self, node: ast.AST, ctx, callee: bool) -> None:
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = dotted_name(node)
            if name is not None:
                if not callee and isinstance(node.ctx, ast.Load) and name.split(".")[0] in self.heads:
                    self.dead.add(name)  # used as a value: called where we do not see it
                return
        if isinstance(node, ast.Call):
            self._call(node, ctx)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._statement(node, ctx)
            return
        if isinstance(node, ast.Lambda):
            a = node.args
            names = [p.arg for p in list(a.posonlyargs) + list(a.args) + list(a.kwonlyargs)]
            names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
            self._visit(node.body, (_NESTED, {}, (Once([], tuple(names), frozenset()),) + ctx[2], ctx[3]), False)
            return
        if isinstance(node, ast.AnnAssign):
            for part in (node.target, node.value):
                if part is not None:
                    self._visit(part, ctx, False)
            return  # an annotation names classes, it passes nothing
        if isinstance(node, ast.arg):
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child, ctx, False)

    def _decorator(self, d: ast.AST, ctx) -> None:
        if isinstance(d, ast.Call):
            self._visit(d, ctx, False)
        else:
            name = dotted_name(d)
            if name is not None and name.split(".")[0] in self.heads:
                self.dead.add(name)  # `@wrap`: wrap(fn), whatever fn is

    def _call(self, node: ast.Call, ctx) -> None:
        key, params, chain, cls = ctx
        func = node.func
        name = dotted_name(func)
        if name is not None and cls is not None and name in ("cls", "self.__class__"):
            name = cls  # a classmethod's `cls(...)`: this class
        elif isinstance(func, ast.Call) and dotted_name(func.func) == "type" and cls is not None:
            name = cls  # `type(self)(...)`
        else:
            self._visit(func, ctx, True)
        if name in _TYPE_TESTS:  # the classes they test name no call; the object tested may hold one
            for a in (node.args[:1] if name != "super" else ()):
                self._visit(a, ctx, False)
            return
        for a in node.args:
            self._visit(a.value if isinstance(a, ast.Starred) else a, ctx, False)
        for k in node.keywords:
            self._visit(k.value, ctx, False)
        if name is None or name.split(".")[0] not in self.heads:
            return
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            self.dead.add(name)
            return
        args = [self._describe(a, ctx) or 0 for a in node.args]
        kws = {k.arg: d for k, d in ((k, self._describe(k.value, ctx)) for k in node.keywords) if d}
        while args and not args[-1]:
            args.pop()
        if args or kws:
            self.out.calls.setdefault(key, []).append((name, args, kws))
        else:
            self.dead.add(name)

    def _describe(self, expr: ast.AST, ctx, depth: int = 0) -> Optional[str]:
        key, params, chain, cls = ctx
        if isinstance(expr, ast.Name):
            if expr.id in params:
                i = params[expr.id]
                return f"p{i}" if i >= 0 and key != _NESTED else None
            bound = None
            for once in chain:
                table = once.table()
                if expr.id in table:
                    bound = table[expr.id]
                    break
            return self._describe(bound, ctx, depth + 1) if bound is not None and depth < 2 else None
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name) and expr.value.id == "self" and cls is not None and "self" in params:
                return f"s:{expr.attr}"
            return None
        if isinstance(expr, ast.Call):
            func = expr.func
            while isinstance(func, ast.Attribute) and func.attr in _SELF_RETURNING and isinstance(func.value, ast.Call):
                func = func.value.func  # `Net(cfg).cuda()`
            if isinstance(func, ast.Attribute) and func.attr == "parameters" and not expr.args:
                return "P"
            name = dotted_name(func)
            if name and (name.split(".")[0] in self.heads or name.rsplit(".", 1)[-1][:1].isupper()):
                return f"c:{name}"
        return None
