"""Gradients zeroed by hand to keep parameters (or rows of them) fixed, and which parameter each one is.

Asked by FRZ210 (the optimizer still decays or moves what was masked) and FRZ303 (the mask
is built from the wrong index). A "grad write" is a statement of one scope that writes zeros
into a parameter's `.grad` after `backward()`: `g[mask] = 0`, `g.data[idx, :] = g.data[idx, :].fill_(0)`,
`g[idx].zero_()`, `g.masked_fill_(m, 0)`, `g.mul_(mask)` / `g *= mask` (rows), or `p.grad.zero_()`,
`p.grad.fill_(0)`, `p.grad = torch.zeros_like(p)` (the whole parameter). `g` is the `.grad` of a
parameter (`.data` peeled), or a name every reaching binding of which is one.

Which parameter: its owner's attribute path from the flow model (`flow_paths.Paths.path_of`: aliases,
`.module`, `unwrap_model(...)`), extended by the zero-argument accessors that return a submodule
(`get_input_embeddings()`), so `text_encoder.get_input_embeddings().weight.grad` and
`AdamW(text_encoder.get_input_embeddings().parameters())` meet. A loop variable of
`for p in model.parameters()` is a parameter of `model`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.semantic.facts import FileFacts, Scope
from freezelint.static.flow.events import Builder
from freezelint.static.semantic.kinds import TENSOR_ATTRS

# zero-argument methods that return a submodule of their receiver
SUBMODULE_GETTERS = frozenset({"get_input_embeddings", "get_output_embeddings", "get_encoder", "get_decoder"})
_ZEROING_METHODS = frozenset({"zero_", "fill_", "mul_", "masked_fill_"})  # mul_ only by a literal 0


@dataclass
class GradWrite:
    node: ast.AST  # the statement's zeroing expression (what a finding points at)
    stmt: ast.stmt
    grad: ast.expr  # the gradient expression written (`grads.data`)
    param: ast.expr  # the parameter whose gradient it is
    key: str  # the parameter's owner path, with `#param` appended when the parameter itself is named
    rows: bool  # only part of the gradient (a mask or an index), not the whole parameter
    mask: Optional[ast.expr]  # the index or mask expression, for rows
    selected: bool  # an `if` inside a loop picks it (`for n, p in ...: if "emb" in n: p.grad.zero_()`)


class ParamPaths:
    """Paths of parameters and modules in one scope, from the flow model's path resolution."""

    def __init__(self, flow_, tl: flow.Timeline, scope: Scope):
        self.facts: FileFacts = flow_.facts
        self.scope = scope
        self._b = Builder(flow_, flow.Timeline(tl.node, tl.func_name), scope, follow=False)

    def module_path(self, expr: ast.expr) -> Optional[str]:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and not expr.args and not expr.keywords:
            if expr.func.attr in SUBMODULE_GETTERS:
                base = self.module_path(expr.func.value)
                return f"{base}.{expr.func.attr}()" if base else None
        if isinstance(expr, ast.Attribute):
            base = self.module_path(expr.value)
            if base is not None and base.endswith("()"):
                return f"{base}.{expr.attr}" if expr.attr != "module" else base
        return self._b.path_of(expr)

    def param_key(self, expr: ast.expr) -> Optional[str]:
        """`m.emb.weight` -> "m.emb#weight"; a loop variable over `m.parameters()` -> "m"."""
        expr = _peel_data(expr)
        if isinstance(expr, ast.Attribute) and expr.attr in TENSOR_ATTRS:
            owner = self.module_path(expr.value)
            return f"{owner}#{expr.attr}" if owner else None
        if isinstance(expr, ast.Name):
            bindings = self.facts.bindings_at(expr, self.scope)
            if bindings and len(bindings) == 1 and bindings[0].iterate and isinstance(bindings[0].expr, ast.Call):
                it = bindings[0].expr
                if isinstance(it.func, ast.Attribute) and it.func.attr in ("parameters", "named_parameters"):
                    return self.module_path(it.func.value)
        return None

    def grad_params(self, expr: ast.expr, depth: int = 0) -> List[ast.expr]:
        """The parameters whose `.grad` `expr` is ([] when it is not known to be one)."""
        expr = _peel_data(expr)
        if isinstance(expr, ast.Attribute) and expr.attr == "grad":
            return [expr.value]
        if isinstance(expr, ast.Name) and depth < 3:
            bindings = self.facts.bindings_at(expr, self.scope)
            if not bindings or any(b.expr is None or b.iterate or b.path for b in bindings):
                return []
            out: List[ast.expr] = []
            for b in bindings:
                got = self.grad_params(b.expr, depth + 1)
                if not got:
                    return []
                out.extend(got)
            return out
        return []


def _peel_data(expr: ast.expr) -> ast.expr:
    while isinstance(expr, ast.Attribute) and expr.attr in ("data", "detach"):
        expr = expr.value
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "detach" and not expr.args:
        return _peel_data(expr.func.value)
    return expr


def _is_zero(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant) and not isinstance(expr.value, bool) and expr.value == 0:
        return True
    if isinstance(expr, ast.Call):
        func = expr.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("zeros", "zeros_like", "zero_"):
            return True
        if name == "fill_" and expr.args and _is_zero(expr.args[0]):
            return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
        return _is_zero(expr.left) or _is_zero(expr.right)
    return False


def own_nodes(node: ast.AST) -> Iterator[Tuple[ast.AST, bool]]:
    """Every node of one scope's body (nested functions, classes and lambdas left out), and whether an
    `if` inside a loop of the scope guards it."""
    body = list(node.body) if isinstance(node, (ast.Module,) + FUNCTION_NODES) else []
    stack = [(n, False, False) for n in reversed(body)]
    while stack:
        n, in_loop, guarded = stack.pop()
        yield n, guarded
        loop = in_loop or isinstance(n, (ast.For, ast.AsyncFor, ast.While))
        guard = guarded or (in_loop and isinstance(n, ast.If))
        for child in reversed(list(ast.iter_child_nodes(n))):
            if not isinstance(child, FUNCTION_NODES + (ast.ClassDef, ast.Lambda)):
                stack.append((child, loop, guard))


_STATEMENT_FIELDS = ("body", "handlers", "orelse", "finalbody", "cases")  # in the order iter_child_nodes has them


def own_statements(node: ast.AST) -> Iterator[ast.AST]:
    """The statements (and except handlers, match cases) of `own_nodes(node)` in the same order, without walking
    any expression (no statement is inside one): several times cheaper on a long function."""
    body = list(node.body) if isinstance(node, (ast.Module,) + FUNCTION_NODES) else []
    stack = list(reversed(body))
    while stack:
        n = stack.pop()
        yield n
        for name in reversed(_STATEMENT_FIELDS):
            for child in reversed(getattr(n, name, None) or ()):
                if isinstance(child, ast.AST) and not isinstance(child, FUNCTION_NODES + (ast.ClassDef,)):
                    stack.append(child)


def grad_writes(paths: ParamPaths, node: ast.AST) -> List[GradWrite]:
    """The statements of this scope that write zeros into a known parameter's gradient."""
    out: List[GradWrite] = []
    for stmt, guarded in own_nodes(node):
        if not isinstance(stmt, ast.stmt):
            continue
        found = _zeroing(stmt)
        if found is None:
            continue
        at, grad, rows, mask = found
        for param in paths.grad_params(grad):
            key = paths.param_key(param)
            if key is not None:
                out.append(GradWrite(at, stmt, grad, param, key, rows, mask, guarded))
                break
    return out


def zeroes_rows(stmt: ast.stmt) -> bool:
    """The statement writes zeros into part of some tensor (`g[mask] = 0`, `g.masked_fill_(m, 0)`): a grad
    write with a mask needs one (whose tensor is a gradient is not asked: a cheap first test)."""
    found = _zeroing(stmt)
    return found is not None and found[2] and found[3] is not None


def _zeroing(stmt: ast.stmt):
    """(node, gradient expression, rows?, mask) when `stmt` writes zeros into some tensor's gradient."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        t = stmt.targets[0]
        if isinstance(t, ast.Subscript) and _is_zero(stmt.value):
            return stmt, t.value, True, t.slice
        if isinstance(t, ast.Attribute) and t.attr == "grad" and _is_zero(stmt.value):
            return stmt, t, False, None
        return None
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Mult) and _is_zero(stmt.value):
        return (stmt, stmt.target, False, None) if isinstance(stmt.target, (ast.Name, ast.Attribute)) else None
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in _ZEROING_METHODS):
        return None
    recv = func.value
    if func.attr == "fill_" and not (call.args and _is_zero(call.args[0])):
        return None
    if func.attr == "masked_fill_":
        if len(call.args) != 2 or not _is_zero(call.args[1]):
            return None
        return call, recv, True, call.args[0]
    if func.attr == "mul_" and not (len(call.args) == 1 and _is_zero(call.args[0])):
        return None  # scaling (`mul_(1 / accum)`), or a mask we cannot tell from a scale
    if isinstance(recv, ast.Subscript):
        return call, recv.value, True, recv.slice
    return call, recv, False, None
