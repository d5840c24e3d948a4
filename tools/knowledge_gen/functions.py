"""The statement walk of one function: its locals, returns and effects on `self`.

Flow-insensitive on purpose: every value a local is ever given is one of its
possible values, and every `self.x = ...` anywhere in a method counts. The
knowledge base records what a class holds by default; a sound join of all
branches is what that question needs.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterator, List, Set

from .records import CONST, UNKNOWN, Encoder, FuncSummary, Value, annotation_names, dotted

_SELF_REGISTER = {"register_buffer": "buf", "register_parameter": "par", "add_module": "add", "register_module": "add"}
_ADDERS = frozenset({"append", "extend", "insert", "add_module", "register_module", "update", "__setitem__"})


def _statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, through compound ones, not into nested defs or classes."""
    for st in body:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield st
        for name in ("body", "orelse", "finalbody"):
            sub = getattr(st, name, None)
            if isinstance(sub, list):
                yield from _statements(sub)
        for h in getattr(st, "handlers", []):
            yield from _statements(h.body)
        for case in getattr(st, "cases", []):
            yield from _statements(case.body)


def _expressions(st: ast.stmt) -> Iterator[ast.AST]:
    """The expression nodes of one statement (not of its nested statements)."""
    for name, value in ast.iter_fields(st):
        if name in ("body", "orelse", "finalbody", "handlers", "cases", "decorator_list"):
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, ast.AST):
                for n in ast.walk(item):
                    if not isinstance(n, (ast.Lambda,)):
                        yield n


def _target_names(t: ast.AST) -> Iterator[str]:
    for n in ast.walk(t):
        if isinstance(n, ast.Name):
            yield n.id


def read_body(reader, node, f: FuncSummary, is_method: bool) -> None:
    a = node.args
    positional = list(a.posonlyargs) + list(a.args)
    self_name = positional[0].arg if is_method and positional and f.kind != "staticmethod" else None
    params = positional + list(a.kwonlyargs)
    f.args = [p.arg for p in params]
    names: Set[str] = {p.arg for p in params}
    for extra in (a.vararg, a.kwarg):
        if extra is not None:
            names.add(extra.arg)
    stmts = list(_statements(node.body))
    for st in stmts:
        if isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            targets = getattr(st, "targets", None) or [getattr(st, "target", None)]
            if isinstance(st, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in st.items if i.optional_vars is not None]
            for t in targets:
                if t is not None and not isinstance(t, (ast.Attribute, ast.Subscript)):
                    names.update(_target_names(t))
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            names.update((al.asname or al.name).split(".")[0] for al in st.names if al.name != "*")
        elif isinstance(st, ast.Try):
            names.update(h.name for h in st.handlers if h.name)
        for n in _expressions(st):
            if isinstance(n, ast.NamedExpr):
                names.add(n.target.id)
    if self_name:
        names.discard(self_name)
    enc = Encoder(reader, names, {"self": self_name} if self_name else {})
    env: Dict[str, List[Value]] = {}

    def put(name: str, v: Value) -> None:
        env.setdefault(name, []).append(v)

    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults) + list(a.kw_defaults)
    for p, d in zip(params, defaults):
        if p.arg == self_name:
            continue
        if d is not None:
            put(p.arg, enc.value(d))
        else:
            ann = tuple(annotation_names(enc, p.annotation)) if p.annotation is not None else None
            put(p.arg, ("a", p.arg, ann or None))
    for extra in (a.vararg, a.kwarg):
        if extra is not None:
            put(extra.arg, UNKNOWN)

    def assign(t: ast.AST, v: Value) -> None:
        if isinstance(t, ast.Name):
            put(t.id, v)
        elif isinstance(t, (ast.Tuple, ast.List)):
            parts = v[1] if v[0] == "seq" and len(v[1]) == len(t.elts) else None
            for i, e in enumerate(t.elts):
                assign(e, parts[i] if parts else ("elem", v))
        elif isinstance(t, ast.Starred):
            assign(t.value, ("seq", (("elem", v),)))
        elif isinstance(t, ast.Attribute) and self_name and isinstance(t.value, ast.Name) and t.value.id == self_name:
            f.effects.append(("set", t.attr, v))
        elif isinstance(t, ast.Subscript) and self_name:
            base = enc.value(t.value)
            if base[0] == "at" and base[1] == ("s",):
                f.effects.append(("add", base[2], v))
            elif base[0] == "l":
                put(base[1], ("seq", (v,)))

    for st in stmts:
        if isinstance(st, ast.Assign):
            v = enc.value(st.value)
            for t in st.targets:
                assign(t, v)
        elif isinstance(st, (ast.AnnAssign, ast.AugAssign)) and st.value is not None:
            assign(st.target, enc.value(st.value))
        elif isinstance(st, (ast.For, ast.AsyncFor)):
            assign(st.target, ("elem", enc.value(st.iter)))
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                if item.optional_vars is not None:
                    assign(item.optional_vars, UNKNOWN)
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            reader.imports(st, 0, into=env)
        elif isinstance(st, ast.Return):
            f.returns.append(enc.value(st.value) if st.value is not None else CONST)
        for n in _expressions(st):
            if isinstance(n, ast.Call):
                _call_effect(n, enc, f, put, self_name)
                callee = enc.value(n.func)
                if callee[0] == "n":
                    f.constructs.add(callee[1])
            elif isinstance(n, ast.NamedExpr):
                put(n.target.id, enc.value(n.value))
            elif isinstance(n, (ast.Yield, ast.YieldFrom)):
                f.source_hints.add("generator")
    f.locals = env


def _call_effect(call: ast.Call, enc: Encoder, f: FuncSummary, put, self_name) -> None:
    func = call.func
    if isinstance(func, ast.Name) and func.id == "setattr" and len(call.args) == 3:
        if isinstance(call.args[0], ast.Name) and call.args[0].id == self_name:
            f.effects.append(("set", "?", enc.value(call.args[2])))
        return
    if isinstance(func, ast.Name) and func.id == "any" and call.args:
        g = call.args[0]
        if isinstance(g, ast.GeneratorExp) and isinstance(g.elt, ast.Attribute) and g.elt.attr == "requires_grad":
            f.source_hints.add("any_requires_grad")
        return
    if not isinstance(func, ast.Attribute):
        return
    if func.attr == "__init__" and isinstance(func.value, ast.Call) and dotted(func.value.func) == "super":
        args = tuple(enc.value(x) for x in call.args)  # a container subclass passes its children here
        f.effects.append(("super_init", "", ("seq", args)))
        return
    owner = enc.value(func.value)
    args = [enc.value(x) for x in call.args] + [enc.value(k.value) for k in call.keywords]
    if owner == ("s",):
        kind = _SELF_REGISTER.get(func.attr)
        if kind:
            name = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else "?"
            f.effects.append((kind, str(name), args[1] if len(args) > 1 else UNKNOWN))
        else:
            f.self_calls.append(func.attr)
    elif owner[0] == "at" and owner[1] == ("s",) and func.attr in _ADDERS:
        for v in args[-1:] if func.attr in ("insert", "add_module", "register_module", "__setitem__") else args:
            f.effects.append(("add", owner[2], ("elem", v) if func.attr in ("extend", "update") else v))
    elif owner[0] == "l" and func.attr in ("append", "extend", "insert", "add_module", "update"):
        for v in args[-1:] if func.attr in ("insert", "add_module") else args:
            put(owner[1], ("seq", (("elem", v) if func.attr in ("extend", "update") else v,)))
