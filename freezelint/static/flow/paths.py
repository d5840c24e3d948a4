"""Attribute paths for `flow`: what module an expression names, through loop variables and aliases.

`Paths` is a mixin of `flow_events.Builder`: `path_of(expr)` gives "model.backbone"
for `model.backbone`, for `m` in `for m in model.backbone.modules()` (then
"model.backbone.*"), for `backbone` after `backbone = model.backbone`, and
through self-returning calls (`model.to(device)`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from freezelint.static.semantic.evidence import unwrapped_model
from freezelint.static.parse.astutil import string_value
from freezelint.static.flow.timeline import _normalize, segments
from freezelint.static.flow.params import call_args

SELF_RETURNING = frozenset(
    {"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "bfloat16", "requires_grad_", "type", "to_empty", "xpu", "mps"}
)


@dataclass
class _LoopVar:
    role: str  # "param" (a Parameter of path), "mod" (a Module at path), "pname" (name of a param/module)
    path: Optional[str]
    whole: bool
    guard_depth: int
    name_var: Optional[str] = None
    also: Tuple[str, ...] = ()  # more paths whose parameters it runs over (`chain(a.parameters(), b.parameters())`)



class Paths:
    """Mixin: needs `facts`, `scope`, `guards`, `loopvars` and `_alias_depth` on the Builder."""

    # -- loop variables
    def _bind_loop(self, target: ast.expr, it: ast.expr) -> Dict[str, _LoopVar]:
        out: Dict[str, _LoopVar] = {}
        whole = True
        # unwrap list(...)/enumerate(...)/tuple(...), slices
        while True:
            first = _first_arg(it) if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) else None
            if first is not None and it.func.id in ("list", "tuple", "reversed"):
                it = first
            elif first is not None and it.func.id == "enumerate":
                it = first
                if isinstance(target, ast.Tuple) and len(target.elts) == 2:
                    target = _unstar(target.elts[1])
                else:
                    return out
            elif isinstance(it, ast.Subscript):
                whole = False
                it = it.value
            else:
                break
        if isinstance(it, ast.IfExp):  # `a.module.visual.modules() if ddp else a.visual.modules()`: when both arms agree
            arms = [self._bind_loop(target, arm) for arm in (it.body, it.orelse)]
            return arms[0] if arms[0] == arms[1] else {}
        if isinstance(it, ast.Name) and self._loopvar(it.id) is None and self._alias_depth <= 8:
            bound = self._iterable_binding(it)  # `mods = model.visual.modules()` ... `for m in mods:`
            if bound is not None:
                self._alias_depth += 1
                try:
                    return self._bind_loop(target, bound)
                finally:
                    self._alias_depth -= 1
        depth = len(self.guards)
        chained = self._chained_parameters(it)
        if chained and isinstance(target, ast.Name):
            out[target.id] = _LoopVar("param", chained[0], whole, depth, also=tuple(chained[1:]))
            return out
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute):
            m = it.func.attr
            base = self.path_of(it.func.value)
            if m == "parameters" and isinstance(target, ast.Name):
                out[target.id] = _LoopVar("param", base, whole, depth)
            elif m in ("modules", "children") and isinstance(target, ast.Name):
                out[target.id] = _LoopVar("mod", base + ".*" if base else None, whole, depth)
            elif m in ("named_parameters", "named_modules", "named_children") and isinstance(target, ast.Tuple) and len(target.elts) == 2:
                n, v = _unstar(target.elts[0]), _unstar(target.elts[1])
                if isinstance(v, ast.Name):
                    role = "param" if m == "named_parameters" else "mod"
                    path = base if m == "named_parameters" else (base + ".*" if base else None)
                    nv = n.id if isinstance(n, ast.Name) else None
                    out[v.id] = _LoopVar(role, path, whole, depth, nv)
                if isinstance(n, ast.Name):
                    out[n.id] = _LoopVar("pname", base, whole, depth)
            return out
        if isinstance(it, (ast.List, ast.Tuple)) and isinstance(target, ast.Name):
            paths = [self.path_of(e) for e in it.elts if not isinstance(e, ast.Starred)]
            if paths and all(paths):
                common = _common_prefix(paths)
                if common:
                    out[target.id] = _LoopVar("mod", common + ".*" if len(paths) > 1 else paths[0], whole, depth)
            return out
        if isinstance(target, ast.Name):
            base = self.path_of(it)
            if base is not None and self.facts.kind_of(it, self.scope).tag == "container":
                out[target.id] = _LoopVar("mod", base + ".*", whole, depth)
        return out

    def _iterable_binding(self, name: ast.Name) -> Optional[ast.expr]:
        """The one expression of this scope bound to `name` where it is iterated, when it is a call or a
        conditional (an iterator such as `.modules()` is used up by one loop: the binding is that loop's)."""
        bindings = self.facts.bindings_at(name, self.scope)
        if not bindings or len(bindings) != 1:
            return None
        b = bindings[0]
        if b.scope is not self.scope or b.iterate or b.path or not isinstance(b.expr, (ast.Call, ast.IfExp)):
            return None
        return b.expr

    def _chained_parameters(self, it: ast.expr) -> Optional[List[str]]:
        """The module paths of `itertools.chain(a.parameters(), b.parameters(), ...)`; None if not that."""
        if not (isinstance(it, ast.Call) and it.args and not it.keywords):
            return None
        qual = self.facts.qualified(it.func, self.scope) or ""
        if qual != "itertools.chain" and not (isinstance(it.func, ast.Attribute) and it.func.attr == "chain" and qual.startswith("itertools")):
            return None
        paths = []
        for a in it.args:
            if not (isinstance(a, ast.Call) and isinstance(a.func, ast.Attribute) and a.func.attr == "parameters" and not a.args):
                return None
            p = self.path_of(a.func.value)
            if p is None:
                return None
            paths.append(p)
        return paths

    def _loopvar(self, name: str) -> Optional[_LoopVar]:
        for frame in reversed(self.loopvars):
            if name in frame:
                return frame[name]
        return None

    # -- paths
    def path_of(self, expr: ast.AST) -> Optional[str]:
        parts = self._parts(expr)
        return _normalize(parts) if parts else None

    def _parts(self, expr: ast.AST) -> Optional[List[str]]:
        if isinstance(expr, ast.Name):
            lv = self._loopvar(expr.id)
            if lv is not None:
                return segments(lv.path) if lv.path and lv.role == "mod" else None
            alias = self._alias(expr)
            return alias if alias is not None else [expr.id]
        if isinstance(expr, ast.Attribute):
            base = self._parts(expr.value)
            return base + [expr.attr] if base else None
        if isinstance(expr, ast.Subscript):
            base = self._parts(expr.value)
            idx = expr.slice
            if not base or isinstance(idx, (ast.Slice, ast.Tuple)):
                return None
            if _is_int(idx) or (isinstance(idx, ast.UnaryOp) and _is_int(idx.operand)):
                return base + [f"[{self.facts.code(idx)}]"]
            s = string_value(idx)
            if s is not None:
                return base + [s]
            return base + ["*"]
        inner = unwrapped_model(expr)
        if inner is not None:  # `accelerator.unwrap_model(model)` is `model`
            return self._parts(inner)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            m = expr.func.attr
            if m in SELF_RETURNING:
                return self._parts(expr.func.value)
            if m == "get_submodule":
                s = string_value(_first_arg(expr))
                base = self._parts(expr.func.value)
                return base + s.split(".") if base and s else None
        return None

    def _alias(self, name: ast.Name) -> Optional[List[str]]:
        """`backbone = model.backbone` (the one binding in this scope that reaches here) resolves to model.backbone."""
        bindings = self.facts.bindings_at(name, self.scope)
        if not bindings or any(b.scope is not self.scope for b in bindings) or self._alias_depth > 8:
            return None
        self._alias_depth += 1
        try:
            # several bindings may reach (`m = model.train()`, then `if sync: m = convert_sync_batchnorm(m)`):
            # an alias when every one of them names the same path
            paths = [self._binding_parts(b) for b in bindings]
        finally:
            self._alias_depth -= 1
        first = paths[0]
        return first if first is not None and all(p == first for p in paths[1:]) else None

    def _binding_parts(self, b) -> Optional[List[str]]:
        if b.iterate or b.path or b.expr is None or not isinstance(b.expr, (ast.Attribute, ast.Name, ast.Call)):
            return None
        if isinstance(b.expr, ast.Call):
            # `m = model.to(device)` / `m = model.eval()` keep the path; constructors do not
            self_returning = isinstance(b.expr.func, ast.Attribute) and b.expr.func.attr in SELF_RETURNING
            if not self_returning and unwrapped_model(b.expr) is None:
                return None
        return self._parts(b.expr)


def _first_arg(call: ast.Call) -> Optional[ast.expr]:
    args = call_args(call)
    return args[0][0] if args else None


def _unstar(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Starred) else node


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _common_prefix(paths: List[str]) -> Optional[str]:
    split = [segments(p) for p in paths]
    out = []
    for parts in zip(*split):
        if all(p == parts[0] for p in parts):
            out.append(parts[0])
        else:
            break
    return ".".join(out) if out else None
