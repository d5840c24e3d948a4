"""Questions `flow_events` asks of single expressions: a call's arguments, which
grad mode a `with` item or decorator sets, and which parameters an optimizer
is built over."""

from __future__ import annotations

import ast
from typing import List, Optional, Tuple

from freezelint.static.parse.astutil import arg, bool_literal, method_name, mentions, string_value
from freezelint.static.semantic.facts import FileFacts, Scope
from freezelint.static.flow.timeline import ALL, FILTER, SUBSET


def call_args(call: ast.Call) -> List[Tuple[ast.expr, Optional[str], str]]:
    """Every argument as (value, keyword or None, "" / "*" / "**"), in source order."""
    out: List[Tuple[ast.expr, Optional[str], str]] = []
    for a in call.args:
        if isinstance(a, ast.Starred):
            out.append((a.value, None, "*"))
        else:
            out.append((a, None, ""))
    for k in call.keywords:
        out.append((k.value, k.arg, "" if k.arg is not None else "**"))
    if call.keywords and len(out) > len(call.keywords) and any(isinstance(a, ast.Starred) for a in call.args):
        # `f(k=v, *rest)`: a star argument may follow keywords; keep source order
        nodes = list(call.args) + list(call.keywords)
        order = sorted(range(len(out)), key=lambda i: (nodes[i].lineno, nodes[i].col_offset))
        out = [out[i] for i in order]
    return out


def grad_mode_of(facts: FileFacts, expr: ast.expr, scope: Scope) -> Optional[str]:
    """'no_grad' / 'inference_mode' / 'enable_grad' for a grad-mode context or decorator, else None."""
    call = expr if isinstance(expr, ast.Call) else None
    func = call.func if call is not None else expr
    qual = facts.qualified(func, scope) or ""
    last = qual.rsplit(".", 1)[-1]
    if not qual.startswith("torch."):
        return None
    if last == "no_grad":
        return "no_grad"
    if last == "enable_grad":
        return "enable_grad"
    if last == "inference_mode":
        a = arg(call, 0, "mode")
        if a is None or bool_literal(a) is True:
            return "inference_mode"
        return "enable_grad" if bool_literal(a) is False else None
    if last == "set_grad_enabled" and call is not None:
        flag = bool_literal(arg(call, 0, "mode"))
        if flag is False:
            return "no_grad"
        if flag is True:
            return "enable_grad"
    return None


def params_over(b, expr: Optional[ast.expr], depth: int = 0) -> List[Tuple[Optional[str], str]]:
    """What an optimizer's `params` argument takes: [(module path, ALL/FILTER/SUBSET)], [] if unknown.

    `b` is the `flow_events.Builder` (for paths, facts and scope)."""
    if expr is None or depth > 4:
        return []
    if isinstance(expr, ast.Call):
        return _call_over(b, expr, depth)
    if isinstance(expr, (ast.ListComp, ast.GeneratorExp)):
        if len(expr.generators) > 1:
            return []
        f = expr.generators[0]
        it = f.iter
        if isinstance(it, ast.Call) and method_name(it) in ("parameters", "named_parameters"):
            p = b.path_of(it.func.value)
            if not p:
                return []
            if not f.ifs:
                return [(p, ALL)]
            if all(mentions(test, "requires_grad") for test in f.ifs):
                return [(p, FILTER)]
            return [(p, SUBSET)]
        return []
    if isinstance(expr, (ast.List, ast.Tuple)):
        out = []
        for el in expr.elts:
            if isinstance(el, ast.Dict):
                got = []
                for key, value in zip(el.keys, el.values):
                    if key is not None and string_value(key) == "params":
                        got = params_over(b, value, depth + 1)
                if not got:
                    return []
                out.extend(got)
            elif isinstance(el, ast.Starred):
                got = params_over(b, el.value, depth + 1)
                if not got:
                    return []
                out.extend(got)
            else:
                return []
        return out
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):  # `list(a.parameters()) + list(b...)`
        left, right = params_over(b, expr.left, depth + 1), params_over(b, expr.right, depth + 1)
        return left + right if left and right else []
    if isinstance(expr, ast.Name):
        bindings = b.scope.bindings.get(expr.id)
        if bindings and len(bindings) == 1 and not bindings[0].iterate and bindings[0].expr is not None and not bindings[0].path:
            out = params_over(b, bindings[0].expr, depth + 1)
            grown = b.facts.collector.list_growth.get((id(b.scope.node), expr.id), ())
            first = bindings[0].expr
            if grown and (isinstance(first, ast.List) or (
                    isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and first.func.id == "list")):
                # param groups built up: `groups = []` (or `list(a.parameters())`), `groups.append({...})`, `groups += [...]`
                if not out and not (isinstance(first, ast.List) and not first.elts):
                    return []  # it starts from something we cannot follow
                for item in grown:
                    got = params_over(b, item, depth + 1)
                    if not got:
                        return []
                    out = out + got
            return out
    return []


def _call_over(b, expr: ast.Call, depth: int) -> List[Tuple[Optional[str], str]]:
    m = method_name(expr)
    if m == "parameters":
        p = b.path_of(expr.func.value)
        return [(p, ALL)] if p else []
    args = [v for v, _, _ in call_args(expr)]
    if isinstance(expr.func, ast.Name):
        fn = expr.func.id
        if fn in ("list", "tuple", "iter") and args:
            return params_over(b, args[0], depth + 1)
        if fn == "filter" and len(args) == 2:
            how = FILTER if mentions(args[0], "requires_grad") else SUBSET
            return [(t, how if h == ALL else h) for t, h in params_over(b, args[1], depth + 1)]
    qual = b.facts.qualified(expr.func, b.scope) or ""
    if qual in ("itertools.chain",) or (isinstance(expr.func, ast.Attribute) and expr.func.attr == "chain"):
        out = []
        for a in args:
            got = params_over(b, a, depth + 1)
            if not got:
                return []
            out.extend(got)
        return out
    return []
