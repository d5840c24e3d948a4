from __future__ import annotations

from typing import Iterator, Tuple

import libcst as cst

from freezelint.findings import Severity
from freezelint.static import flow
from freezelint.static.rules.flow_rule import FlowRule


def _name_tests(test: cst.CSTNode, var: str) -> Iterator[Tuple[cst.SimpleString, str]]:
    """String literals `s` in `s in var` / `s not in var` tests (also through and/or/not and any(...))."""
    if isinstance(test, cst.BooleanOperation):
        yield from _name_tests(test.left, var)
        yield from _name_tests(test.right, var)
    elif isinstance(test, cst.UnaryOperation):
        yield from _name_tests(test.expression, var)
    elif isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comp = test.comparisons[0]
        if isinstance(comp.operator, (cst.In, cst.NotIn)) and isinstance(comp.comparator, cst.Name) and comp.comparator.value == var:
            if isinstance(test.left, cst.SimpleString):
                yield test.left, "not in" if isinstance(comp.operator, cst.NotIn) else "in"
    elif isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("any", "all") and test.args:
        gen = test.args[0].value
        if isinstance(gen, cst.GeneratorExp) and isinstance(gen.for_in.iter, (cst.List, cst.Tuple)) and isinstance(gen.elt, cst.Comparison):
            comp = gen.elt.comparisons[0] if len(gen.elt.comparisons) == 1 else None
            if comp is not None and isinstance(comp.operator, (cst.In, cst.NotIn)) and isinstance(comp.comparator, cst.Name) and comp.comparator.value == var:
                for el in gen.for_in.iter.elements:
                    if isinstance(el.value, cst.SimpleString):
                        yield el.value, "not in" if isinstance(comp.operator, cst.NotIn) else "in"


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
                    value = flow.string_value(lit)
                    if not value or not value[-1].isdigit() or id(lit) in seen:
                        continue
                    seen.add(id(lit))
                    what = "freezing" if ev.kind == flow.FREEZE else "unfreezing"
                    self.report_at(
                        ev,
                        f"`{lit.value} {op} {ev.name_var}` also matches `{value}0`, `{value}1`, ...: when {what}, their "
                        f"parameters are treated like those of `{value}`; anchor it: "
                        f"`{ev.name_var}.startswith(\"{value}.\")` (or `\"{value}.\" in {ev.name_var}`)",
                        node=lit,
                    )
