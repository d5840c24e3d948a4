from __future__ import annotations

import ast
from typing import Iterator, Tuple

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.astutil import string_value
from freezelint.static.rules.flow_rule import FlowRule


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _membership_of(comp: ast.AST, var: str):
    """"not in" / "in" when `comp` is `<x> in var` / `<x> not in var`, else None."""
    if not (isinstance(comp, ast.Compare) and len(comp.ops) == 1):
        return None
    op, right = comp.ops[0], comp.comparators[0]
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, ast.Name) and right.id == var:
        return "not in" if isinstance(op, ast.NotIn) else "in"
    return None


def _name_tests(test: ast.AST, var: str) -> Iterator[Tuple[ast.Constant, str]]:
    """String literals `s` in `s in var` / `s not in var` tests (also through and/or/not and any(...))."""
    if isinstance(test, ast.BoolOp):
        for value in test.values:
            yield from _name_tests(value, var)
    elif isinstance(test, ast.UnaryOp):
        yield from _name_tests(test.operand, var)
    elif isinstance(test, ast.Compare):
        op = _membership_of(test, var)
        if op is not None and _is_str(test.left):
            yield test.left, op
    elif isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id in ("any", "all") and test.args:
        gen = test.args[0]
        if isinstance(gen, ast.GeneratorExp) and isinstance(gen.generators[0].iter, (ast.List, ast.Tuple)):
            op = _membership_of(gen.elt, var)
            if op is not None:
                for el in gen.generators[0].iter.elts:
                    if _is_str(el):
                        yield el, op


class UnanchoredNameMatch(FlowRule):
    """
    ## What it does
    Flags parameters selected for freezing or unfreezing by a substring test
    whose literal ends in a digit, such as `"layer1" in name`.

    ## Why is this bad?
    `"layer1" in name` also matches `layer10`, `layer11`, ... and
    `"blocks.1" in name` matches `blocks.10` to `blocks.19`: deeper models
    freeze (or unfreeze) more than intended, silently.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(12)])
    for name, param in model.named_parameters():
        if "blocks.1" in name:
            param.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(12)])
    for name, param in model.named_parameters():
        if name.startswith("blocks.1."):
            param.requires_grad = False
    ```
    """

    code = "FRZ301"
    name = "unanchored-name-match"
    summary = "parameter selected by a substring ending in a digit also matches longer numbers"
    severity = Severity.WARNING
    default_enabled = False
    triggers = ("named_parameters", "named_modules", "named_children")

    def check(self, tl: flow.Timeline) -> None:
        seen = set()
        for ev in tl.of(flow.FREEZE, flow.UNFREEZE):
            if ev.name_var is None or ev.via is not None:
                continue
            for g in ev.guards:
                for lit, op in _name_tests(g, ev.name_var):
                    value = string_value(lit)
                    if not value or not value[-1].isdigit() or id(lit) in seen:
                        continue
                    seen.add(id(lit))
                    what = "freezing" if ev.kind == flow.FREEZE else "unfreezing"
                    self.report_at(
                        ev,
                        f"`{self.ctx.code(lit)} {op} {ev.name_var}` also matches `{value}0`, `{value}1`, ...: when {what}, their "
                        f"parameters are treated like those of `{value}`; anchor it: "
                        f"`{ev.name_var}.startswith(\"{value}.\")` (or `\"{value}.\" in {ev.name_var}`)",
                        node=lit,
                    )
