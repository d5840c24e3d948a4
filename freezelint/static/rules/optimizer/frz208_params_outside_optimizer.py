from __future__ import annotations

import ast
import re
from typing import Dict, List

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.lifecycle.class_optimizers import untrained_submodules
from freezelint.static.rules.flow_rule import FlowRule
from freezelint.static.rules.wording import written

# a model whose forward itself keeps gradients out of a part (a linear probe) is not this bug
_GRAD_CUTS = ("no_grad", "inference_mode", ".detach(", "requires_grad")


class ParamsOutsideOptimizer(FlowRule):
    """
    ## What it does
    Flags a model trained in one function whose optimizers cover only part
    of it (`AdamW(model.head.parameters())`) while nothing freezes the rest
    and the whole model runs with gradients enabled (`model(x)` outside
    `torch.no_grad()`, then `backward()` and `step()`). Every optimizer built
    in the function counts (a GAN's two optimizers cover both nets).

    To stay precise it only speaks when it can see everything: the model is
    built in the same function, every optimizer's parameters are known, no
    code of the file freezes a model of that name, and a model class of this
    file does not cut gradients in its code (`no_grad`, `detach`).

    The class form: a LightningModule (its bases may be in other files) whose
    `configure_optimizers` takes only some submodules (`self.control_model`,
    `self.model.diffusion_model.out`), while another submodule it builds is
    frozen by no method of the class hierarchy nor by name anywhere in the
    project, and a method of the class calls it outside `torch.no_grad()`.
    A submodule counts only when it surely holds parameters: a torch layer, a
    project class built of them, or a network of which the optimizer picks
    blocks two levels down (the rest of that network is left out).

    ## Why is this bad?
    `backward()` computes, and keeps, gradients for every parameter that
    requires them: the weights outside the optimizer get gradients on every
    step that nothing applies (memory and time, and under DDP they are
    all-reduced too). Usually the intent was to freeze them ("train the head
    only"), and the saved checkpoint cannot tell which weights were meant to
    train.

    At run time: FRZ505 (a parameter that requires grad is in no optimizer).

    ## Example
    ```python
    import torch
    import torchvision

    def train(loader):
        model = torchvision.models.resnet18(weights="DEFAULT")
        optimizer = torch.optim.AdamW(model.fc.parameters(), lr=1e-3)
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    def train(loader):
        model = torchvision.models.resnet18(weights="DEFAULT")
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        optimizer = torch.optim.AdamW(model.fc.parameters(), lr=1e-3)
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    ```
    """

    code = "FRZ208"
    name = "params-outside-optimizer"
    summary = "part of a trained model is in no optimizer and never frozen: it gets gradients nothing applies"
    severity = Severity.WARNING
    triggers = ("backward",)
    # It needs an optimizer built and stepped in the same scope as the backward.
    trigger_pattern = re.compile(r"\.step\(")

    @classmethod
    def might_fire(cls, text: str) -> bool:
        return super().might_fire(text) or "def configure_optimizers" in text  # the class form

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """The class form: a LightningModule whose `configure_optimizers` leaves a submodule out."""
        for u in untrained_submodules(self.flow, node):
            path = f"self.{u.attr}"
            if u.covered:
                when = f" (and those only under `if {u.condition}`)" if u.condition else ""
                what = f"`configure_optimizers` takes only {', '.join(f'`{p}`' for p in u.covered)} of `{path}`{when}"
                fix = f"`{path}.requires_grad_(False)`, then `requires_grad_(True)` on the parts you give the optimizer"
            else:
                what = f"no optimizer of `configure_optimizers` takes `{path}`"
                fix = f"`{path}.requires_grad_(False)`"
            self.report(
                u.opt.node,
                f"`{path}` gets gradients that no optimizer uses: {what}, nothing freezes it, and `{u.run_in}` "
                f"runs it with gradients enabled, so every `backward()` computes gradients for its parameters that "
                f"no optimizer applies or zeroes (they pile up in memory); if it is meant to stay fixed, freeze it "
                f"in `__init__` ({fix}), otherwise give it to an optimizer",
                statement=u.opt.stmt,
            )

    def check(self, tl: flow.Timeline) -> None:
        opts = tl.of(flow.OPT)
        if not opts or not tl.of(flow.STEP) or not tl.of(flow.BACKWARD) or tl.of(flow.GRAD_OFF):
            return
        if isinstance(tl.node, ast.Module):  # the top level's own statements, not the functions and classes
            own_text = "\n".join(
                self.facts.code(st) for st in tl.node.body
                if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            )
        else:
            own_text = self.facts.code(tl.node)
        if "requires_grad" in own_text or tl.of(flow.FREEZE, flow.UNFREEZE, flow.ADD_GROUP):
            return
        frozen_roots = {
            flow.segments(e.target)[0]
            for other in self.flow.all_timelines() for e in other.of(flow.FREEZE, flow.UNFREEZE) if e.target
        }
        covered: Dict[str, List[str]] = {}
        for o in opts:
            if not o.over or any(t is None for t, _ in o.over):
                return  # some optimizer takes parameters we cannot follow
            for t, how in o.over:
                covered.setdefault(flow.segments(t)[0], []).append(t if how == flow.ALL else "")
        for root, paths in covered.items():
            if any(p in ("", root) or "*" in p for p in paths) or root in ("self", *frozen_roots):
                continue  # the whole model, or a selection we cannot place
            runs = [f for f in tl.of(flow.FORWARD) if f.target == root and f.grad is None]
            if not runs or not self._built_here(tl, root) or not self._forward_keeps_grads(tl, root):
                continue
            # as the optimizers' code writes them (`model.module.fc` after `model = DDP(model)`)
            parts = ", ".join(f"`{written(p, [o.node for o in opts], self.facts) or p}`" for p in dict.fromkeys(paths))
            o = next(o for o in opts if any(t in paths for t, _ in o.over))
            self.report(
                o.node,
                f"the optimizers here cover only {parts} of `{root}`, nothing freezes the rest, and `{root}` runs "
                f"with gradients (`{self.code_of(runs[0].node)}`): every `backward()` computes gradients for the "
                f"rest that no optimizer applies; freeze it (`{root}.requires_grad_(False)`, then unfreeze "
                f"{parts}) or give it to an optimizer",
                statement=o.stmt,
            )

    def _built_here(self, tl: flow.Timeline, root: str) -> bool:
        """`root` is assigned in this scope (not a parameter the caller may have frozen) from a call."""
        if root not in tl.assigned:
            return False
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        return self.facts.kind_of(ast.Name(id=root, ctx=ast.Load()), scope).is_module()

    def _forward_keeps_grads(self, tl: flow.Timeline, root: str) -> bool:
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        kind = self.facts.kind_of(ast.Name(id=root, ctx=ast.Load()), scope)
        for info in self.facts.classes.get(kind.detail or "", ()):
            if any(cut in self.facts.code(info.node) for cut in _GRAD_CUTS):
                return False
        if kind.detail and not kind.detail.startswith(("torch", "torchvision", "timm", "transformers")) \
                and kind.detail not in self.facts.classes:
            return False  # a project class of another file: its forward is out of sight
        return True
