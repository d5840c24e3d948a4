from __future__ import annotations

import ast
from typing import Set, Tuple

from freezelint.findings import Applicability, Severity
from freezelint.static.parse.astutil import dotted_name, keyword, positional
from freezelint.static.rules.base import Rule

PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
# Calls that return the same values in another form (device, dtype, layout, a shard's local part):
# a Parameter built from one is the old parameter re-wrapped.
_SAME_VALUES = frozenset(
    {
        "to", "to_local", "full_tensor", "redistribute", "detach", "contiguous", "float", "half", "bfloat16",
        "double", "cuda", "cpu", "type", "view", "reshape", "t", "squeeze", "unsqueeze", "dequantize", "pin_memory",
        "expand", "flatten", "permute", "transpose", "narrow",
    }
)
_COPIES = frozenset({"clone", "copy", "deepcopy"})
# Attributes of a module that are parameters (not buffers) by construction.
_PARAM_ATTRS = frozenset(
    {"weight", "bias", "in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight",
     "cls_token", "dist_token", "mask_token", "pos_embed", "logit_scale", "gamma", "beta"}
)


def _source_root(expr: ast.AST) -> Tuple[ast.AST, bool]:
    """`p.data.to(dtype)[:n]` -> (`p`, copied?): the tensor a Parameter's data comes from."""
    copied = False
    while True:
        if isinstance(expr, ast.Attribute) and expr.attr == "data":
            expr = expr.value
        elif isinstance(expr, ast.Subscript) and not _parameters_entry(expr):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _SAME_VALUES | _COPIES:
            copied = copied or expr.func.attr in _COPIES
            expr = expr.func.value
        else:
            return expr, copied


def _parameters_entry(expr: ast.AST) -> bool:
    """`module._parameters[name]`."""
    return isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Attribute) and expr.value.attr == "_parameters"


def _is_param_iter(expr: ast.AST) -> bool:
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("list", "tuple") and expr.args:
        return _is_param_iter(expr.args[0])
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("parameters", "named_parameters")


def _mentions_freeze(text: str) -> bool:
    return "requires_grad" in text or "freeze" in text.lower()


class ParameterRewrapResetsRequiresGrad(Rule):
    """
    ## What it does
    Flags `nn.Parameter(x)` built from an existing parameter — `p`, `p.data`,
    `p.to(dtype)`, a DTensor's `p.to_local()`, `module._parameters[name]` —
    that takes the old parameter's place (assigned back to the same
    attribute, `setattr`, `register_parameter`, or built from a parameter
    loop variable) without `requires_grad=p.requires_grad`.

    ## Why is this bad?
    `nn.Parameter` ignores the flag of the tensor it wraps: its
    `requires_grad` argument defaults to True. Re-wrapping a frozen weight
    (when casting, sharding, quantising, resizing or loading it) silently
    makes it trainable again: it gets gradients and any optimizer built over
    `model.parameters()` afterwards updates it.

    At run time: FRZ504 (declared-frozen-but-trainable) reports a parameter
    declared frozen that has `requires_grad=True` at the step.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    def cast_parameters(model, dtype):
        for module in model.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                setattr(module, name, nn.Parameter(param.data.to(dtype)))
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    def cast_parameters(model, dtype):
        for module in model.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                setattr(module, name, nn.Parameter(param.data.to(dtype), requires_grad=param.requires_grad))
    ```

    ## Fix safety
    The fix adds `requires_grad=<old parameter>.requires_grad`. It is unsafe:
    where the old parameter was frozen, the new one now is too, which changes
    what trains (that is the point, unless the re-wrap was meant to unfreeze).
    """

    code = "FRZ009"
    name = "parameter-rewrap-resets-requires-grad"
    summary = "`nn.Parameter(p)` over an existing parameter makes a frozen weight trainable again"
    severity = Severity.WARNING
    fixable = "unsafe"
    triggers = ("Parameter(",)

    def __init__(self, ctx):
        super().__init__(ctx)
        self._seen: Set[int] = set()

    # where the new Parameter goes
    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1 or not self._is_parameter_call(node.value):
            return
        target = node.targets[0]
        root, _ = _source_root(node.value.args[0])
        if _parameters_entry(target) and (_parameters_entry(root) or self._param_var(root)):
            self._flag(node.value, root)
        elif isinstance(target, ast.Attribute) and dotted_name(target) and dotted_name(target) == dotted_name(root):
            if self._is_param_attr(target) and not self._freshly_built(target, node):
                self._flag(node.value, root)

    def visit_Call(self, node: ast.Call) -> None:
        if self._is_parameter_call(node):
            root, copied = _source_root(node.args[0])
            if not copied and (self._param_var(root) or _parameters_entry(root)):
                self._flag(node, root)
            return
        func = node.func
        args = positional(node)
        if isinstance(func, ast.Name) and func.id == "setattr" and len(args) == 3:
            module, name, value = args
        elif isinstance(func, ast.Attribute) and func.attr == "register_parameter" and len(args) == 2:
            module, (name, value) = func.value, args
        else:
            return
        if not self._is_parameter_call(value):
            return
        root, _ = _source_root(value.args[0])
        if self._param_var(root) or _parameters_entry(root) or self._getattr_of(root, module, name):
            self._flag(value, root)

    # what the data comes from
    def _is_parameter_call(self, node: ast.AST) -> bool:
        if not (isinstance(node, ast.Call) and node.args and not isinstance(node.args[0], ast.Starred)):
            return False
        if len(node.args) > 1 or keyword(node, "requires_grad") is not None or any(k.arg is None for k in node.keywords):
            return False
        return self.ctx.qualified(node.func) in PARAMETER_CLASSES

    def _param_var(self, expr: ast.AST) -> bool:
        """A loop variable over `.parameters()` / `.named_parameters()` (the tensor, not the name)."""
        if not isinstance(expr, ast.Name):
            return False
        bindings = self.facts.lookup(expr.id, self.ctx.scope)
        if not bindings:
            return False
        for b in bindings:
            if not (b.iterate and b.expr is not None and _is_param_iter(b.expr)):
                return False
            named = isinstance(b.expr, ast.Call) and "named_parameters" in ast.dump(b.expr)
            if b.path != ((1,) if named else ()):
                return False
        return True

    def _is_param_attr(self, target: ast.Attribute) -> bool:
        """`x.weight`, or an attribute the class itself creates as an nn.Parameter."""
        if target.attr in _PARAM_ATTRS:
            return True
        cls = self.ctx.scope.class_name
        if isinstance(target.value, ast.Name) and target.value.id == "self" and cls:
            for info in self.facts.classes.get(cls, []):
                for b in info.self_attrs.get(target.attr, []):
                    if isinstance(b.expr, ast.Call) and self.facts.qualified(b.expr.func, b.scope) in PARAMETER_CLASSES:
                        return True
        return False

    def _freshly_built(self, target: ast.AST, stmt: ast.stmt) -> bool:
        """`model = TinyNet()` earlier in this function and nothing since (nor the class) freezes:
        every parameter of `model` still has requires_grad=True, so a re-wrap changes nothing."""
        head = target
        while isinstance(head, ast.Attribute):
            head = head.value
        if not isinstance(head, ast.Name):
            return False
        bindings = self.facts.lookup(head.id, self.ctx.scope)
        if not bindings or len(bindings) != 1 or bindings[0].scope is not self.ctx.scope:
            return False
        built = bindings[0].expr
        if not (isinstance(built, ast.Call) and isinstance(built.func, ast.Name)) or bindings[0].iterate:
            return False
        infos = self.facts.classes.get(built.func.id, [])
        if len(infos) != 1 or _mentions_freeze(self.ctx.code(infos[0].node)):
            return False
        lines = self.ctx.source.text.splitlines()[built.lineno - 1 : stmt.lineno - 1]
        return not _mentions_freeze("\n".join(lines))

    def _getattr_of(self, root: ast.AST, module: ast.AST, name: ast.AST) -> bool:
        if not (isinstance(root, ast.Call) and isinstance(root.func, ast.Name) and root.func.id == "getattr"):
            return False
        args = positional(root)
        return len(args) >= 2 and ast.dump(args[0]) == ast.dump(module) and ast.dump(args[1]) == ast.dump(name)

    def _flag(self, call: ast.Call, root: ast.AST) -> None:
        if id(call) in self._seen or self._flag_restored(call):
            return
        self._seen.add(id(call))
        old = self.ctx.code(root)
        text = self.ctx.code(call)
        body = text[:-1].rstrip()
        fixed = f"{body}{'' if body.endswith(',') else ','} requires_grad={old}.requires_grad)"
        self.report(
            call,
            f"`{self._short(text)}` re-wraps `{old}` as a new Parameter with requires_grad=True, whatever `{old}` had: "
            f"a frozen weight becomes trainable again; pass `requires_grad={old}.requires_grad`",
            replace=(call, fixed),
            applicability=Applicability.UNSAFE,
            fix_message=f"Keep the flag: `requires_grad={old}.requires_grad`",
        )

    def _flag_restored(self, call: ast.Call) -> bool:
        """The statement sets requires_grad on the result (`nn.Parameter(x).requires_grad_(flag)`, or
        `w = nn.Parameter(x)` followed in the same scope by `w.requires_grad = ...`)."""
        stmt = self.ctx.current_statement()
        for n in ast.walk(stmt) if stmt is not None else ():
            if isinstance(n, ast.Attribute) and n.value is call and n.attr in ("requires_grad_", "requires_grad"):
                return True
        if isinstance(stmt, ast.Assign) and stmt.value is call and len(stmt.targets) == 1:
            name = dotted_name(stmt.targets[0])
            scope_node = self.ctx.scope.node
            for n in ast.walk(scope_node):
                if isinstance(n, ast.Attribute) and n.attr in ("requires_grad", "requires_grad_") and dotted_name(n.value) == name:
                    if getattr(n, "lineno", 0) > stmt.lineno:
                        return True
        return False

    @staticmethod
    def _short(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."
