from __future__ import annotations

import ast
from typing import List, Optional, Set

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import string_value
from freezelint.static.rules.flow_rule import FlowRule
from freezelint.static.rules.optimizer.frz211_peft_base_unfrozen import name_tests
from freezelint.static.rules.optimizer.new_token_rows import (
    EMBEDDING_NAMES, config_adapts_embeddings, embeddings_unfrozen_after, resize_before,
)


class PeftRefreezesUnfrozen(FlowRule):
    """
    ## What it does
    Flags `get_peft_model(model, config)` (or `PeftModel(...)`) when, before
    it, the same function set part of `model` trainable (`model.lm_head.
    requires_grad_(True)`, a `named_parameters()` loop picking
    `"vision_tower"`) or installed a new head (`model.classifier =
    nn.Linear(...)`), that part is not in the config's `modules_to_save`,
    and nothing sets it trainable again after the call. The same for the
    embedding rows of new tokens: `tokenizer.add_tokens(...)` (or
    `add_special_tokens` with more than a pad token) and
    `model.resize_token_embeddings(...)` before the call, with neither the
    embeddings nor the output layer in `modules_to_save`, LoRA's
    `target_modules` or `trainable_token_indices`.

    ## Why is this bad?
    `get_peft_model` freezes every parameter of the base model except the
    adapters and the modules named in `modules_to_save`. Whatever was made
    trainable before it is frozen again: the new head stays at its random
    initialisation and the part meant to be fine-tuned fully does not
    train; nothing fails. It is also left out of the saved adapter. New
    tokens keep their initial embedding and output rows, so the model can
    neither read them apart nor learn to produce them (a new end-of-turn
    token is never generated).

    At run time: FRZ506 (a part named by `trainable=` has requires_grad=False).

    ## Example
    ```python
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    def build(model):
        model.classifier = nn.Linear(768, 3)
        config = LoraConfig(target_modules=["query", "value"])
        return get_peft_model(model, config)
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    def build(model):
        model.classifier = nn.Linear(768, 3)
        config = LoraConfig(target_modules=["query", "value"], modules_to_save=["classifier"])
        return get_peft_model(model, config)
    ```
    """

    code = "FRZ213"
    name = "peft-refreezes-unfrozen"
    summary = "`get_peft_model` freezes again a part set trainable (or a head installed) before it, left out of `modules_to_save`"
    severity = Severity.WARNING
    triggers = ("peft",)

    def check(self, tl: flow.Timeline) -> None:
        for p in tl.of(flow.PEFT):
            base = p.target
            if base is None or not isinstance(p.node, ast.Call):
                continue
            saved = self._modules_to_save(p, tl)
            if saved is None:
                continue  # not a literal list: cannot tell what it keeps
            found = []
            for ev in tl.before(p, flow.UNFREEZE, flow.HEAD):
                if ev.target is None or not flow.overlap(ev.target, base) or _alternatives(ev, p):
                    continue
                parts = [part for part in self._parts(ev, base) if not _kept(part, saved)]
                if parts and not self._unfrozen_again(tl, p, ev):
                    found.append((ev, parts))
            if found:
                self._report(p, found, saved)
            self._check_new_token_rows(p, tl, saved)

    def _parts(self, ev: flow.Event, base: str) -> List[str]:
        """The submodule names the event makes trainable below `base` ([] when it is all of it, or unknown)."""
        if ev.kind == flow.UNFREEZE and not ev.whole:
            if ev.name_var is None or ev.target != base:
                return []
            tests = [t for g in ev.guards for t in name_tests(g, ev.name_var)]
            if not tests or not all(positive for positive, _ in tests):
                return []
            return [s for _, t in tests for s in _strings(t)]
        if not flow.strictly_inside(ev.target, base):
            return []
        if ev.kind == flow.HEAD and _wraps_itself(ev):
            return []  # `model.lm_head = CastOutputToFloat(model.lm_head)`: the old (frozen) layer, wrapped
        segs = flow.segments(ev.target)
        return [".".join(segs[-2:]) if segs[-1].startswith("[") and len(segs) > 1 else segs[-1]]

    def _config_call(self, p: flow.Event, tl: flow.Timeline) -> Optional[ast.Call]:
        config = p.value
        if isinstance(config, ast.Name):
            scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
            bindings = self.facts.bindings_at(config, scope) or []
            if len(bindings) != 1 or bindings[0].expr is None:
                return None
            config = bindings[0].expr
        return config if isinstance(config, ast.Call) else None

    def _modules_to_save(self, p: flow.Event, tl: flow.Timeline) -> Optional[Set[str]]:
        config = self._config_call(p, tl)
        if config is None:
            return None
        kw = next((k.value for k in config.keywords if k.arg == "modules_to_save"), None)
        if any(k.arg is None for k in config.keywords):
            return None
        if kw is None or (isinstance(kw, ast.Constant) and kw.value is None):
            return set()
        if isinstance(kw, (ast.List, ast.Tuple, ast.Set)):
            names = [string_value(e) for e in kw.elts]
            return set(names) if all(names) else None  # type: ignore[arg-type]
        return None

    def _check_new_token_rows(self, p: flow.Event, tl: flow.Timeline, saved: Set[str]) -> None:
        """Tokens added and the embeddings resized before the wrap: PEFT freezes the new rows too."""
        base = p.node.args[0] if isinstance(p.node, ast.Call) and p.node.args else None
        config = self._config_call(p, tl)
        if base is None or config is None or any(s.split(".")[-1] in EMBEDDING_NAMES for s in saved):
            return
        resize = resize_before(tl.node, p.node, self.code_of(base), self.code_of, self.facts)
        if (resize is None or config_adapts_embeddings(config) or self._unfrozen_again(tl, p, None)
                or embeddings_unfrozen_after(tl.node, p.node, self.code_of)):
            return
        names = ", ".join(f'"{s}"' for s in sorted(saved) + ["embed_tokens", "lm_head"])
        self.report_at(
            p,
            f"`{self.code_of(resize)}` (line {resize.lineno}) adds embedding rows for the tokens added to the tokenizer, "
            f"but `{self.code_of(p.node)}` freezes the embeddings and the output layer: the new tokens keep their "
            f"initial vectors and the model cannot learn to read or produce them (a new end-of-turn token is never "
            f"generated); keep both layers trainable: `modules_to_save=[{names}]` (your model's names for its input "
            f"embeddings and output layer), or train only the new rows with `trainable_token_indices` (peft 0.15 and later)",
        )

    def _unfrozen_again(self, tl: flow.Timeline, p: flow.Event, ev: Optional[flow.Event]) -> bool:
        wrapped = [n for n in (p.target,) + p.names if n]
        for later in tl.after(p, flow.UNFREEZE):
            if later.target is None or any(flow.overlap(later.target, n) for n in wrapped):
                return True
        return False

    def _report(self, p: flow.Event, found, saved: Set[str]) -> None:
        whats = []
        for ev, parts in found:
            if ev.kind == flow.HEAD and isinstance(ev.stmt, ast.Assign):
                whats.append(f"`{self.code_of(ev.stmt.targets[0])}` installed at line {ev.node.lineno}")
            elif ev.name_var is not None and ev.guards:
                whats.append(f"the loop picking `{self.code_of(ev.guards[-1])}` set trainable at line {ev.node.lineno}")
            else:
                whats.append(f"`{self.code_of(ev.node)}` set trainable at line {getattr(ev.node, 'lineno', 0)}")
        parts = sorted({part for _, ps in found for part in ps})
        named = [_module_name(x) for x in parts]
        names = ", ".join(f'"{s}"' for s in sorted(saved) + [x for x in named if x and x not in saved])
        advice = f"name it in the config: `modules_to_save=[{names}]`"
        if None in named:  # `layers[-1]`: PEFT matches module names (`layers.31`), which the code does not spell
            advice = (f"name it in the config by its module name as `named_modules()` spells it (`layers.31`, not "
                      f"`layers[-1]`): `modules_to_save=[...]`" if not names else
                      f"name them in the config, the indexed ones by their module name as `named_modules()` spells it "
                      f"(`layers.31`, not `layers[-1]`): `modules_to_save=[{names}, ...]`")
        self.report_at(
            p,
            f"`{self.code_of(p.node)}` freezes every base parameter not in `modules_to_save`, so what "
            f"{' and '.join(whats)} ({', '.join(f'`{_as_written(x)}`' for x in parts)}) is frozen again: it does not train, nor is "
            f"it saved with the adapter; {advice}",
        )


def _module_name(part: str) -> Optional[str]:
    """What PEFT's `modules_to_save` matches for a part: `layers.[3]` -> `layers.3`; a negative or computed
    index -> None."""
    parent, _, last = part.rpartition(".")
    if not last.startswith("["):
        return part
    index = last[1:-1]
    return f"{parent}.{index}" if index.isdigit() and parent else None


def _as_written(part: str) -> str:
    return part.replace(".[", "[")


def _alternatives(ev: flow.Event, p: flow.Event) -> bool:
    """Each step sits under a test of its own (`if LISA: ...unfreeze...` then `if LORA: get_peft_model(...)`):
    two options that may be alternatives, not one configuration, so the order says nothing."""
    own = {id(g) for g in ev.guards} - {id(g) for g in p.guards}
    other = {id(g) for g in p.guards} - {id(g) for g in ev.guards}
    name_tests = {id(g) for g in ev.guards if ev.name_var is not None and ev.name_var in {
        n.id for n in ast.walk(g) if isinstance(n, ast.Name)}}
    return bool(own - name_tests) and bool(other)


def _wraps_itself(ev: flow.Event) -> bool:
    stmt = ev.stmt
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, ast.Call)):
        return False
    target = ast.dump(stmt.targets[0]).replace("ctx=Store()", "ctx=Load()")
    return any(ast.dump(n) == target for a in stmt.value.args + [k.value for k in stmt.value.keywords] for n in ast.walk(a))


def _strings(test: ast.AST) -> List[str]:
    return [s.strip(".") for s in (string_value(n) for n in ast.walk(test)) if s]


def _kept(part: str, saved: Set[str]) -> bool:
    """PEFT keeps a module whose name ends with an entry of `modules_to_save`."""
    last = part.split(".")[-1]
    return any(s == last or part.endswith(s) or s.endswith(last) for s in saved)
