from __future__ import annotations

import ast
import re
from functools import cached_property
from typing import Dict, Optional

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.rules.flow_rule import FlowRule

_COMPILE = "torch.compile"


def _compile_call(facts, node: ast.AST) -> Optional[ast.Call]:
    """`torch.compile(x, ...)` (also through `from torch import compile`), else None."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func  # name test first: resolving every call's qualified name is the expensive part
    if isinstance(func, ast.Attribute) and func.attr != "compile":
        return None  # `torch.compile` ends in `compile`; a bare name may be an alias (`from torch import compile as c`)
    if not isinstance(func, (ast.Name, ast.Attribute)):
        return None
    if facts.qualified(func, facts.module_scope) == _COMPILE:
        return node
    return None


def _methods(info) -> Dict[str, ast.AST]:
    return {d.name: d for d in info.node.body if isinstance(d, FUNCTION_NODES)}


def compiled_functions(facts) -> Dict[int, str]:
    """id(def node) -> how it is compiled, for the functions and methods of this file that
    `torch.compile` compiles: decorated, or compiled where it is assigned
    (`self.forward = torch.compile(self.forward)`, `step = torch.compile(step)`), or the
    `forward` of a project class whose instance is compiled (`model = torch.compile(Net())`)."""
    out: Dict[int, str] = {}
    for defs in facts.functions.values():
        for d in defs:
            for dec in d.decorator_list:
                if facts.qualified(dec, facts.module_scope) == _COMPILE or _compile_call(facts, dec):
                    out[id(d)] = f"decorated with `@{facts.code(dec)}`"
    # One walk finds every torch.compile call; the classes' own calls are then picked by position.
    candidates = list(facts.collector.compile_calls)
    for name, sites in facts.calls.items():  # `from torch import compile as tc`: calls of a bare name
        bindings = facts.module_scope.bindings.get(name, ())
        if any(b.kind is not None and b.kind.detail == _COMPILE for b in bindings):
            candidates.extend(call for call, _scope in sites)
    compile_calls = sorted(
        (n for n in candidates if _compile_call(facts, n) is not None), key=lambda n: (n.lineno, n.col_offset)
    )
    for infos in facts.classes.values() if compile_calls else ():
        for info in infos:
            methods = _methods(info)
            start, end = info.node.lineno, info.node.end_lineno or info.node.lineno
            for call in compile_calls:
                if not start <= call.lineno <= end:
                    continue
                arg = call.args[0] if call.args else None
                if (
                    isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
                    and arg.value.id == "self" and arg.attr in methods
                ):
                    out.setdefault(id(methods[arg.attr]), f"compiled by `{facts.code(call)}`")
    for node in compile_calls:
        call = node
        if not call.args:
            continue
        arg = call.args[0]
        if isinstance(arg, ast.Name) and arg.id in facts.functions and not facts.classes.get(arg.id):
            for d in facts.functions[arg.id]:
                if not _is_method(facts, d):
                    out.setdefault(id(d), f"compiled by `{facts.code(call)}`")
            continue
        cls = _project_class_of(facts, arg, call, _scope_at(facts, node))
        for info in facts.classes.get(cls or "", ()):
            fwd = _methods(info).get("forward")
            if fwd is not None:
                out.setdefault(id(fwd), f"the `forward` of `{cls}`, compiled by `{facts.code(call)}`")
    return out


def _project_class_of(facts, arg: ast.expr, call: ast.Call, scope) -> Optional[str]:
    """The class of this file that the compiled value is an instance of, when every binding agrees
    (`model = Net(); model = torch.compile(model)`: the rebinding by the compile itself does not count)."""
    kind = facts.kind_of(arg, scope)
    if kind.tag == "module" and kind.detail in facts.classes:
        return kind.detail
    if not isinstance(arg, ast.Name):
        return None
    names = set()
    for b in facts.lookup(arg.id, scope) or []:
        if b.expr is call:
            continue
        k = facts.kind_of(b.expr, scope) if b.expr is not None else b.kind
        names.add(k.detail if k is not None and k.tag == "module" else None)
    return next(iter(names)) if len(names) == 1 and None not in names and next(iter(names)) in facts.classes else None


def _is_method(facts, d: ast.AST) -> bool:
    return any(d in info.node.body for infos in facts.classes.values() for info in infos)


def _scope_at(facts, node: ast.AST):
    """The scope of the innermost function holding `node` (module scope if none)."""
    best, size = facts.module_scope, None
    for defs in facts.functions.values():
        for d in defs:
            if d.lineno <= node.lineno <= (d.end_lineno or d.lineno):
                span = (d.end_lineno or d.lineno) - d.lineno
                if size is None or span < size:
                    best, size = facts.scope_of.get(id(d), facts.module_scope), span
    return best


def _own_nodes(func: ast.AST):
    """The nodes of a function's own body (nested functions, classes and lambdas excluded)."""
    stack = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, FUNCTION_NODES + (ast.ClassDef, ast.Lambda)):
                stack.append(child)


def _requires_grad_writes(func: ast.AST):
    """(node, receiver) for `x.requires_grad = ...` and `x.requires_grad_(...)` in the function's own body."""
    for node in _own_nodes(func):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Attribute) and t.attr == "requires_grad":
                    yield t, t.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_":
            yield node, node.func.value


def _statement_of(func: ast.AST, node: ast.AST) -> Optional[ast.stmt]:
    best = None
    for stmt in _own_nodes(func):
        if isinstance(stmt, ast.stmt) and any(n is node for n in ast.walk(stmt)):
            if best is None or stmt.lineno >= best.lineno:
                best = stmt
    return best


class RequiresGradInCompiledRegion(FlowRule):
    """
    ## What it does
    Flags `requires_grad` changes (freezing or unfreezing parameters) inside
    a function or method that `torch.compile` compiles: decorated with
    `@torch.compile`, compiled where it is assigned
    (`self.forward = torch.compile(self.forward)`), or the `forward` of a
    class of this file whose instance is compiled (`model = torch.compile(model)`).

    ## Why is this bad?
    The compiled graph is traced for one set of parameters that require
    gradients: dynamo guards on `requires_grad`, so changing it inside the
    compiled code breaks the graph there and recompiles whenever the set
    changes, or, once the recompile limit is hit, falls back to eager for the
    rest of the run. Training is slower than without compiling, and what is
    frozen inside a graph is not visible where the optimizer is built. Freeze
    before compiling, outside the compiled function.

    At run time: FRZ511 (flags changed after a wrapper recorded them) and
    FRZ504 (declared frozen, still trainable at the step).

    ## Example
    ```python
    import torch
    import torch.nn as nn


    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        @torch.compile
        def forward(self, x, freeze_encoder=False):
            self.encoder.requires_grad_(not freeze_encoder)
            return self.head(self.encoder(x))
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn


    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        def set_encoder_frozen(self, frozen):
            self.encoder.requires_grad_(not frozen)

        @torch.compile
        def forward(self, x):
            return self.head(self.encoder(x))
    ```
    """

    code = "FRZ207"
    name = "requires-grad-in-compiled-region"
    summary = "`requires_grad` changed inside a function compiled with `torch.compile`"
    severity = Severity.WARNING
    triggers = ("compile",)
    # It reports a requires_grad write: a file that compiles but never spells one cannot fire.
    trigger_pattern = re.compile(r"requires_grad")

    @cached_property
    def _compiled(self) -> Dict[int, str]:
        """`compiled_functions` of this file, found at the first timeline checked (one rule instance per file)."""
        return compiled_functions(self.facts)

    def check(self, tl: flow.Timeline) -> None:
        if not isinstance(tl.node, FUNCTION_NODES):
            return
        how = self._compiled.get(id(tl.node))
        if how is None:
            return
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        seen = set()
        targets = {id(ev.node): ev.target for ev in tl.of(flow.FREEZE, flow.UNFREEZE) if ev.target and ev.via is None}
        for node, receiver in _requires_grad_writes(tl.node):
            path = targets.get(id(node)) or self.facts.code(receiver)
            if isinstance(receiver, ast.Name) and path == receiver.id:  # not a loop over parameters
                if not self.facts.kind_of(receiver, scope).tag in ("module", "container", "param"):
                    continue  # an input or activation tensor, or unknown: not a freeze
            if not self._on_tensor(path, scope):
                seen.add(id(node))
                self._report(node, path, "changed", tl, how, None)
        for ev in tl.of(flow.FREEZE, flow.UNFREEZE):  # through helpers called here
            if ev.via is None or ev.target is None or id(ev.node) in seen or self._on_tensor(ev.target, scope):
                continue
            seen.add(id(ev.node))
            self._report(ev.node, ev.target, "frozen" if ev.kind == flow.FREEZE else "unfrozen", tl, how, ev)

    def _report(self, node, target, what, tl, how, ev) -> None:
        message = (
            f"`requires_grad` of `{target}` is {what}{flow.describe(ev) if ev else ''} inside `{tl.func_name}`, "
            f"which is {how}: the graph was traced for the old `requires_grad` set, so this breaks the graph and "
            f"recompiles whenever it changes; set `requires_grad` outside the compiled function, before compiling"
        )
        if ev is not None:
            self.report_at(ev, message)
        else:
            self.report(node, message, statement=_statement_of(tl.node, node))

    def _on_tensor(self, target: str, scope) -> bool:
        """An activation or input tensor (`x.requires_grad_()` in forward), not a parameter."""
        root = flow.segments(target)[0]
        if root == "self":
            return False
        bindings = self.facts.lookup(root, scope) or []
        return any(b.kind is not None and b.kind.tag == "tensor" for b in bindings if getattr(b, "kind", None))
