from __future__ import annotations

import ast
from typing import Dict, FrozenSet, List, Optional, Sequence

from freezelint.findings import Severity
from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.flow.timeline import NO_GRAD_MODES
from freezelint.static.flow.params import grad_mode_of
from freezelint.static.semantic.kinds import MODULE, join
from freezelint.static.rules.base import Rule


class NoGradForwardOfTrainedModule(Rule):
    """
    ## What it does
    Flags `@torch.no_grad()` (or `@torch.inference_mode()`) on the
    `forward` of a project module class when the project sets it trainable
    somewhere else: another file (a training script, a `--tune_vision_tower`
    option) sets `requires_grad` True on the attribute the project stores
    its instances under (`self.vision_tower = build_vision_tower(cfg)`, and
    `vision_tower.requires_grad_(True)` or
    `if "vision_tower" in name: param.requires_grad = True` in `train.py`).

    ## Why is this bad?
    A decorated `forward` records nothing for autograd, whatever
    `requires_grad` says: when the training code unfreezes the module (or
    puts LoRA adapters in it, or gives it its own learning rate), its
    parameters never get a gradient and stay where they started, with no
    error (TinyLLaVA/TinyLLaVA_Factory#17, AutoGeo-Official/AutoGeo#4). A
    frozen tower is fixed by `requires_grad_(False)` alone; the decorator
    only saves the activations' memory, at the price of making the
    "train it" option a no-op. Teachers and EMA copies that nothing sets
    trainable are not flagged, nor a `with torch.no_grad():` block inside
    `forward` (often conditional on a flag), nor a class whose instances the
    unfreeze cannot reach: where the rest of the unfrozen path after the
    attribute name does not exist below this class in its file
    (`tower.vision_tower.vision_model.layers[i]` when this class's
    `vision_tower` has no `vision_model`: the path is another tower's).

    At run time: FRZ506 (a trainable parameter held by the optimizer got
    no gradient).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    class VisionTower(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 8)
            self.encoder.requires_grad_(False)

        @torch.no_grad()
        def forward(self, images):
            return self.encoder(images)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision_tower = VisionTower()

    def unlock(model):
        model.vision_tower.requires_grad_(True)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    class VisionTower(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 8)
            self.encoder.requires_grad_(False)

        def forward(self, images):
            return self.encoder(images)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision_tower = VisionTower()

    def unlock(model):
        model.vision_tower.requires_grad_(True)
    ```
    To keep the memory saving when it is frozen:
    `with torch.set_grad_enabled(any(p.requires_grad for p in self.parameters())):`.
    """

    code = "FRZ111"
    name = "no-grad-forward-of-trained-module"
    summary = "`@torch.no_grad()` on the `forward` of a module the project sets trainable elsewhere"
    severity = Severity.ERROR
    triggers = ("no_grad", "inference_mode")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        project = self.facts.project
        if node.name not in project.module_classes:
            return
        names = sorted(project.stored_as.get(node.name, frozenset()) & project.unfreeze_words)
        if not names:
            return
        fwd = next((m for m in node.body if isinstance(m, FUNCTION_NODES) and m.name == "forward"), None)
        if fwd is None:
            return
        dec = self._grad_off_decorator(fwd)
        if dec is None:
            return
        names = [n for n in names if self._reaches(node.name, n)]
        if not names:
            return
        stored = ", ".join(f"`{n}`" for n in names)
        self.report(
            dec,
            f"`@{self.ctx.code(dec).strip()}` runs every call of `{node.name}.forward` without gradients, but the "
            f"project sets {stored} (where it stores `{node.name}` instances) trainable: its parameters, and any "
            f"adapters in it, never get a gradient and stay where they started; remove the decorator (a frozen "
            f"`{node.name}` stays fixed through `requires_grad_(False)`), or keep the memory saving only while it "
            f"is frozen: `with torch.set_grad_enabled(any(p.requires_grad for p in self.parameters())):`",
            statement=fwd,
        )

    def _reaches(self, cls: str, name: str) -> bool:
        """Some unfreeze of the project names `name` through a path whose rest exists below an instance of
        `cls` stored there (`x.vision_tower.layers[3]`: `cls` has `layers`); a name no recorded path holds counts."""
        found = False
        for path in self.facts.project.unfreeze_paths:
            segs = path.split(".")
            for i, seg in enumerate(segs):
                if seg.rstrip("*") == name:
                    found = True
                    if self._exists_below(cls, segs[i + 1:], frozenset({cls})):
                        return True
        return not found

    def _exists_below(self, cls: str, rest: Sequence[str], seen: FrozenSet[str]) -> bool:
        """`rest` (path segments) may exist below an instance of `cls`: False only where the class and its
        bases are all in this file (or `nn.Module`) and one of them lacks the next attribute."""
        if not rest or rest[0].endswith("*") or rest[0] in ("[]", "()", "?") or rest[1:2] == ["()"]:
            return True  # the end, a substring that may go on, an element, a method's result: not followed
        attrs = self._attributes(cls)
        if attrs is None or rest[0] not in attrs:
            return attrs is None
        below = attrs[rest[0]]
        return below is None or below in seen or self._exists_below(below, rest[1:], seen | {below})

    def _attributes(self, cls: str, depth: int = 0) -> Optional[Dict[str, Optional[str]]]:
        """Every attribute an instance of this file's class `cls` has (`self.x = ...` anywhere in it and its bases
        of this file, its methods and class attributes) -> the class of this file it holds (None: another);
        None when that cannot be known (a base elsewhere, `setattr(self, ...)`, `add_module`, `__getattr__`)."""
        infos = self.facts.classes.get(cls)
        if not infos or len(infos) != 1 or depth > 8:
            return None
        info = infos[0]
        out: Dict[str, Optional[str]] = {n: None for n in info.body_names}
        if "__getattr__" in out:
            return None
        for n in ast.walk(info.node):
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name) and n.value.id == "self":
                out.setdefault(n.attr, None)
            elif isinstance(n, ast.Call) and (
                (isinstance(n.func, ast.Name) and n.func.id == "setattr")
                or (isinstance(n.func, ast.Attribute) and n.func.attr in ("add_module", "register_module", "__setattr__"))
            ):
                return None
        for attr, bindings in info.self_attrs.items():
            k = join(self.facts._binding_kind(b) for b in bindings)
            if k.tag == MODULE and isinstance(k.detail, str) and len(self.facts.classes.get(k.detail, ())) == 1:
                out[attr] = k.detail
        for base in info.bases:
            if self.facts.qualified(base, self.facts.module_scope) == "torch.nn.Module":
                continue
            name = base.id if isinstance(base, ast.Name) else None
            inherited = self._attributes(name, depth + 1) if name else None
            if inherited is None:
                return None
            out = {**inherited, **out}
        return out

    def _grad_off_decorator(self, fwd: ast.AST) -> Optional[ast.expr]:
        scope = self.facts.scope_of.get(id(fwd), self.facts.module_scope)
        decorators: List[ast.expr] = list(fwd.decorator_list)  # type: ignore[attr-defined]
        return next((d for d in decorators if grad_mode_of(self.facts, d, scope) in NO_GRAD_MODES), None)
