from __future__ import annotations

import ast
from typing import Iterator, List, Optional

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import string_value
from freezelint.static.rules.flow_rule import FlowRule

# words in a name test that point at the adapters themselves (or at what PEFT keeps trainable)
_ADAPTER_WORDS = ("lora", "adapter", "ia3", "prompt", "prefix", "modules_to_save", "base_layer")


class PeftBaseUnfrozen(FlowRule):
    """
    ## What it does
    Flags a `requires_grad = True` after `get_peft_model(model, config)` (or
    `PeftModel(...)`, `PeftModel.from_pretrained(...)`) that reaches the base
    weights PEFT froze: `model.requires_grad_(True)`, a loop setting every
    parameter of `model` trainable, or a `named_parameters()` loop that
    picks parameters only by what their name is not
    (`if "vision_tower" not in name and "mm_projector" not in name:`).

    ## Why is this bad?
    `get_peft_model` freezes every weight of the base model and adds the
    small trainable adapters (LoRA's `lora_A`/`lora_B`). Selecting "everything
    but the vision tower" after it also selects the wrapped layers' own
    weights (`...q_proj.base_layer.weight`), the embeddings and the norms:
    the run silently becomes full fine-tuning of that part, with its memory
    cost, while the script and the saved adapter say LoRA
    (LLaVA-VL/LLaVA-NeXT#508). A name test that picks a named part
    (`if "mm_projector" in name`) is left alone: training one part fully
    next to the adapters is a choice.

    At run time: FRZ504 (declared frozen but trainable) when the base model
    is declared frozen to the auditor.

    ## Example
    ```python
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

    model = get_peft_model(Tiny(), LoraConfig(target_modules=["q_proj"]))
    for name, param in model.named_parameters():
        if "head" not in name:
            param.requires_grad_(True)
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

    model = get_peft_model(Tiny(), LoraConfig(target_modules=["q_proj"]))
    for name, param in model.named_parameters():
        if "head" not in name and "lora_" in name:
            param.requires_grad_(True)
    ```
    A part meant to train fully goes in `LoraConfig(modules_to_save=[...])`
    (it is then trained and saved with the adapter).
    """

    code = "FRZ211"
    name = "peft-base-unfrozen"
    summary = "`requires_grad = True` after `get_peft_model` reaches the base weights PEFT froze (LoRA becomes full fine-tuning)"
    severity = Severity.WARNING
    triggers = ("peft",)

    def check(self, tl: flow.Timeline) -> None:
        pefts = tl.of(flow.PEFT)
        if not pefts:
            return
        for p in pefts:
            wrapped = [n for n in (p.target,) + p.names if n]
            if not wrapped:
                continue
            for u in tl.after(p, flow.UNFREEZE):
                if u.target is None or not any(flow.inside(n, u.target) for n in wrapped):
                    continue  # a part of the model (`model.mm_projector`), not all of it
                if any(_same_or_rebound(tl, p, u, n) for n in wrapped):
                    continue
                how = self._how(u)
                if how is None:
                    continue
                self._report(p, u, how)
                break

    def _how(self, u: flow.Event) -> Optional[str]:
        """How the unfreeze reaches every base weight: "all" or the negative name test; None when it does not."""
        if u.whole:
            return "all"
        if u.name_var is None:
            return None
        tests = [t for g in u.guards for t in name_tests(g, u.name_var)]
        if not tests or any(positive for positive, _ in tests):
            return None
        if any(w in (string_value(c) or "").lower() for g in u.guards for c in ast.walk(g) for w in _ADAPTER_WORDS):
            return None
        return self.code_of(next(g for g in reversed(u.guards) if any(True for _ in name_tests(g, u.name_var))))

    def _report(self, p: flow.Event, u: flow.Event, how: str) -> None:
        model = self.code_of(p.node.args[0]) if isinstance(p.node, ast.Call) and p.node.args else "the model"
        line = getattr(p.node, "lineno", 0)
        if how == "all":
            what = f"sets every parameter of `{u.target}` trainable"
        else:
            what = f"picks parameters only by what their name is not (`{how}`) and sets them trainable"
        self.report(
            u.node,
            f"{what}: after `{self.code_of(p.node)}` (line {line}) that includes the base weights PEFT froze "
            f"(`...base_layer.weight`, embeddings, norms), so the LoRA run of `{model}` becomes full fine-tuning of "
            f"them; unfreeze only the adapters (`if \"lora_\" in name`) and name the parts to train fully in the "
            f"config's `modules_to_save=[...]`",
            statement=u.stmt,
        )


def _same_or_rebound(tl: flow.Timeline, p: flow.Event, u: flow.Event, name: str) -> bool:
    """A later PEFT call on the same name between the two: the later one is the one that counts."""
    return any(q is not p and name in ((q.target,) + q.names) for q in tl.between(p, u, flow.PEFT))


def name_tests(test: ast.expr, var: str, negated: bool = False) -> Iterator[tuple]:
    """(positive?, node) for each test of the name variable in `test`: `"x" in name` is positive,
    `"x" not in name` / `not name.startswith("x")` negative."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        yield from name_tests(test.operand, var, not negated)
        return
    if isinstance(test, ast.BoolOp):
        for v in test.values:
            yield from name_tests(v, var, negated)
        return
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        sides: List[ast.expr] = [test.left] + list(test.comparators)
        if any(_is_var(s, var) for s in sides):
            op = test.ops[0]
            positive = isinstance(op, (ast.In, ast.Eq, ast.Is))
            yield (positive != negated, test)
        return
    if isinstance(test, ast.Call):
        f = test.func
        if isinstance(f, ast.Attribute) and _is_var(f.value, var):
            yield (not negated, test)
        elif any(_is_var(a, var) for a in test.args):
            yield (not negated, test)  # `re.match(p, name)`, `any(k in name ...)` handled below
        elif any(_is_var(n, var) for a in test.args for n in ast.walk(a)):
            yield (not negated, test)


def _is_var(expr: ast.expr, var: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == var
