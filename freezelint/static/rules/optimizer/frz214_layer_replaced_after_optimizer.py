from __future__ import annotations

import ast
from typing import Optional

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.rules.flow_rule import FlowRule


class LayerReplacedAfterOptimizer(FlowRule):
    """
    ## What it does
    Flags a layer installed (`model.fc = nn.Linear(512, 10)`) after the
    optimizer was built over the model that holds it
    (`optimizer = SGD(model.parameters(), ...)`, or over the old layer's own
    `.parameters()`), when that optimizer then steps with no new optimizer
    and no `add_param_group` for the new layer in between.

    ## Why is this bad?
    An optimizer holds the parameter tensors it was given when it was
    built. The new layer's parameters are new tensors: they get gradients
    on every `backward()` and no `step()` ever applies them, so the new head
    stays at its random initialisation while the old, detached layer's
    weights sit in the optimizer. Nothing fails; the accuracy stays at
    chance, or the run looks fine only because the rest of the model
    adapts around a random head.

    At run time: FRZ505 (a parameter that requires grad is in no optimizer).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    def finetune(model, loader):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        model.fc = nn.Linear(512, 10)
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    def finetune(model, loader):
        model.fc = nn.Linear(512, 10)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    ```
    """

    code = "FRZ214"
    name = "layer-replaced-after-optimizer"
    summary = "a layer installed (`model.fc = nn.Linear(...)`) after the optimizer was built over the model: it never trains"
    severity = Severity.ERROR
    triggers = ("step",)

    def check(self, tl: flow.Timeline) -> None:
        for head in tl.of(flow.HEAD):
            if head.target is None or _same_layer(head.stmt):
                continue
            for opt in tl.before(head, flow.OPT):
                if opt.name is None or not self._covers(opt, head.target):
                    continue
                step = next((s for s in tl.after(head, flow.STEP) if s.name == opt.name), None)
                if step is None or self._rebuilt(tl, head, step, opt.name) or _rebound(tl.node, opt.name, head, step):
                    continue
                self._report(head, opt)
                break

    @staticmethod
    def _covers(opt: flow.Event, layer: str) -> bool:
        """The optimizer took every parameter of a module holding the layer, or the old layer's own."""
        return any(path is not None and (
            (how in (flow.ALL, flow.FILTER) and flow.inside(layer, path)) or path == layer) for path, how in opt.over)

    @staticmethod
    def _rebuilt(tl: flow.Timeline, head: flow.Event, step: flow.Event, name: str) -> bool:
        """A new optimizer, or a param group for it, between the new layer and the step."""
        return any(e.name == name or e.kind == flow.ADD_GROUP for e in tl.between(head, step, flow.OPT, flow.ADD_GROUP))

    def _report(self, head: flow.Event, opt: flow.Event) -> None:
        layer = self.code_of(head.node)
        line = getattr(opt.node, "lineno", 0)
        self.report_at(
            head,
            f"`{layer}` is installed after `{opt.name}` was built at line {line} (`{self.code_of(opt.node)}`): it holds the old layer's "
            f"parameters, not the new ones, so `{layer}` gets gradients that no step applies and keeps its initial "
            f"weights; build the optimizer after this line, or add the new layer to it: "
            f"`{opt.name}.add_param_group({{'params': {layer}.parameters()}})`",
        )


def _rebound(scope: ast.AST, name: str, head: flow.Event, step: flow.Event) -> bool:
    """`optimizer = build_optimizer(model)` between the new layer and the step (a builder the flow does
    not read is still a new optimizer)."""
    first, last = getattr(head.node, "lineno", 0), getattr(step.node, "lineno", 0)
    for node in ast.walk(scope):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and first < node.lineno <= last:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(ast.unparse(t) == name for t in targets):
                return True
    return False


def _same_layer(stmt: Optional[ast.stmt]) -> bool:
    """`model.head = model.head.to(device)` / `Wrapper(model.head)`: the same parameters, moved or wrapped."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
        return False
    target = ast.dump(stmt.targets[0]).replace("ctx=Store()", "ctx=Load()")
    return any(ast.dump(n) == target for n in ast.walk(stmt.value))
