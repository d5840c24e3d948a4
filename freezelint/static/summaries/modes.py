"""What a class's own text says about train/eval modes, for the project model (summary.ClassSummary).

- `batchnorm_attrs`: the `self.<attr>` submodules whose construction visibly holds a live BatchNorm:
  a BatchNorm class is built in the value (`nn.Sequential(conv, nn.BatchNorm2d(c))`), passed as the
  norm (`norm_layer=nn.BatchNorm2d`), named by an OpenMMLab-style config (`norm_cfg=dict(type="BN")`),
  or comes from a parameter/attribute whose default is one of those (`norm_cfg=self.norm_cfg`), or
  from a method of the class that builds one (`self.layer1 = self._make_layer(...)`).
  FrozenBatchNorm2d has no running statistics to update: it is not a live BatchNorm.
- `train_passthrough`: the class defines `train()` but it only calls the base class's `train()`
  (a docstring, `return self`), so it keeps no submodule in eval mode.
"""

from __future__ import annotations

import ast
import re
from typing import List, Set

from freezelint.static.parse.astutil import dotted_name

BATCHNORM_CLASS = re.compile(r"^_?(Sync)?BatchNorm([123]d)?$|^_BatchNorm$|^SyncBatchNorm$")
_BN_CONFIG_TYPES = frozenset({"BN", "BN1d", "BN2d", "BN3d", "SyncBN", "MMSyncBN", "NaiveSyncBN"})
NORM_KEYWORDS = frozenset({"norm_cfg", "norm_layer", "norm", "bn", "norm_fn", "batch_norm", "bn_layer"})


def is_batchnorm_class_name(name: str) -> bool:
    """`nn.BatchNorm2d`, `SyncBatchNorm`... (last segment); never FrozenBatchNorm2d."""
    return bool(BATCHNORM_CLASS.match(name.rsplit(".", 1)[-1]))


def _is_bn_config(node: ast.AST) -> bool:
    """`dict(type="BN", ...)` / `{"type": "SyncBN"}` / `nn.BatchNorm2d` / `partial(nn.BatchNorm2d, ...)`."""
    if isinstance(node, (ast.Name, ast.Attribute)):
        return is_batchnorm_class_name(dotted_name(node) or "")
    if isinstance(node, ast.Call):
        func = dotted_name(node.func) or ""
        if func == "dict":
            t = next((k.value for k in node.keywords if k.arg == "type"), None)
            return isinstance(t, ast.Constant) and t.value in _BN_CONFIG_TYPES
        if func.rsplit(".", 1)[-1] == "partial" and node.args:
            return _is_bn_config(node.args[0])
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values):
            if isinstance(k, ast.Constant) and k.value == "type":
                return isinstance(v, ast.Constant) and v.value in _BN_CONFIG_TYPES
    return False


class _Norms:
    """Names and self attributes that hold a BatchNorm class or config in this class."""

    def __init__(self, methods, nodes):
        self.names: Set[str] = set()  # parameters with a BN default, locals assigned one
        self.attrs: Set[str] = set()  # self.norm_cfg = norm_cfg
        for m in methods:
            a = m.args
            pos = list(a.posonlyargs) + list(a.args)
            for arg, default in zip(pos[len(pos) - len(a.defaults):], a.defaults):
                if _is_bn_config(default):
                    self.names.add(arg.arg)
            for arg, default in zip(a.kwonlyargs, a.kw_defaults):
                if default is not None and _is_bn_config(default):
                    self.names.add(arg.arg)
        assigns = [n for m in methods for n in nodes[m.name] if isinstance(n, ast.Assign) and len(n.targets) == 1]
        for _ in range(2):  # `norm = nn.BatchNorm2d` then `self.norm_layer = norm`
            for n in assigns:
                if self.is_norm(n.value):
                    t = n.targets[0]
                    if isinstance(t, ast.Name):
                        self.names.add(t.id)
                    elif _self_attr(t):
                        self.attrs.add(t.attr)

    def is_norm(self, node: ast.AST) -> bool:
        if _is_bn_config(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.names
        return _self_attr(node) and node.attr in self.attrs


def _self_attr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _bn_call(n: ast.Call, norms: _Norms, bn_methods: Set[str]) -> bool:
    func = dotted_name(n.func) or ""
    if is_batchnorm_class_name(func):
        return True
    if func.startswith("self.") and func[5:] in bn_methods:
        return True
    return any(k.arg in NORM_KEYWORDS and norms.is_norm(k.value) for k in n.keywords)


def _mentions_batchnorm(n: ast.AST) -> bool:
    """The cheap gate: a BatchNorm class name or a BN config type string anywhere."""
    if isinstance(n, ast.Name):
        return is_batchnorm_class_name(n.id)
    if isinstance(n, ast.Attribute):
        return is_batchnorm_class_name(n.attr)
    return isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in _BN_CONFIG_TYPES


def batchnorm_attrs(node: ast.ClassDef) -> List[str]:
    methods = [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
    last = {m.name: m for m in methods}  # a name defined twice: its last definition, as in `nodes`
    if not any(_mentions_batchnorm(n) for m in last.values() for n in ast.walk(m)):
        return []  # the usual case: no list of every node built for nothing
    nodes = {name: list(ast.walk(m)) for name, m in last.items()}
    norms = _Norms(methods, nodes)
    calls = {name: [n for n in ns if isinstance(n, ast.Call)] for name, ns in nodes.items()}
    bn_methods: Set[str] = set()
    for _ in range(2):  # a builder method calling another one
        for m in methods:
            if m.name not in bn_methods and m.name != "__init__" and any(_bn_call(c, norms, bn_methods) for c in calls[m.name]):
                bn_methods.add(m.name)
    out: List[str] = []
    for m in methods:
        for n in nodes[m.name]:
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and _self_attr(n.targets[0]):
                attr = n.targets[0].attr
                if attr not in out and any(
                    isinstance(c, ast.Call) and _bn_call(c, norms, bn_methods) for c in ast.walk(n.value)
                ):
                    out.append(attr)
    return out


def train_passthrough(node: ast.ClassDef) -> bool:
    """`def train(self, mode=True): super().train(mode)` (and nothing else that could keep a mode)."""
    train = next((m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == "train"), None)
    if train is None:
        return False
    for stmt in train.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        value = stmt.value if isinstance(stmt, (ast.Expr, ast.Return)) else None
        if isinstance(stmt, ast.Return) and (value is None or (isinstance(value, ast.Name) and value.id == "self")):
            continue
        if value is not None and _is_base_train_call(value):
            continue
        return False
    return True


def _is_base_train_call(value: ast.AST) -> bool:
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "train"):
        return False
    recv = value.func.value
    if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Name) and recv.func.id == "super":
        return True
    # `nn.Module.train(self, mode)` / `BaseModule.train(self, mode)`
    return bool(value.args) and isinstance(value.args[0], ast.Name) and value.args[0].id == "self"
