"""Class lifecycles: the hooks a framework calls, in the order it calls them, as one timeline.

A LightningModule's `configure_optimizers` runs after `__init__` and before
`on_train_epoch_start`; a freeze in one hook and the optimizer built in another
are related only through that order. `lifecycle_timeline` joins the timelines of
a class's hook methods in framework order (the per-epoch and per-batch hooks
inside one synthetic loop), so the flow rules that opt in (`checks_lifecycles`)
can ask "was the optimizer built before this unfreeze?" across methods.

A Hugging Face `TrainerCallback`: `on_init_end` (end of `Trainer.__init__`), then the Trainer's own
optimizer (`create_optimizer` in `train()`), then `on_train_begin` and the epoch hooks; the optimizer is
over `model`'s parameters that require grad then on transformers 4.26 and later, over all of them
before (the project's newest allowed version decides: `hf_versions.py`, with the evidence per release).
The timeline starts with an assumed freeze of some of `model` by the training script.

A Lightning `BaseFinetuning` callback's `freeze_before_training` runs before the
LightningModule's `configure_optimizers` and its `finetune_function` at every epoch
start, with that optimizer as `optimizer`; what the optimizer holds comes from
`lifecycle_finetuning`. The hooks' own names for the LightningModule are re-rooted to
`finetune_function`'s, so a freeze of `model.backbone` in one hook and an unfreeze of
`pl_module.backbone` in the other meet.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import List, Optional, Sequence, Tuple

from freezelint.static.parse.astutil import FUNCTION_NODES, dotted_name
from freezelint.static.flow.timeline import ALL, FILTER, FREEZE, OPT, Event, Timeline, segments
from freezelint.static.flow.file_flow import FileFlow
from freezelint.static.lifecycle.finetuning import BACKBONE_FINETUNING, FINETUNING_BASES, pl_module_optimizers
from freezelint.static.lifecycle.hf_versions import trainer_optimizer

# Lightning's order for one `Trainer.fit` (hooks of the LightningModule itself).
LIGHTNING_SETUP = ("__init__", "prepare_data", "setup", "configure_model", "configure_optimizers", "on_fit_start", "on_train_start")
LIGHTNING_EPOCH = (
    "on_train_epoch_start", "on_train_batch_start", "training_step", "on_before_backward", "on_after_backward",
    "on_before_optimizer_step", "on_before_zero_grad", "on_train_batch_end", "on_train_epoch_end",
)
LIGHTNING_BASES = frozenset({"LightningModule"})
# The HF Trainer calls `on_init_end` at the end of `Trainer.__init__`, builds its optimizer in `train()` (over
# the parameters that require grad then, from transformers 4.26; over all of them before), then calls
# `on_train_begin` and the epoch hooks; it hands the model to every hook as `model` (hf_versions.py has the
# evidence, per version).
HF_BUILDS = "<the Trainer builds its optimizer>"  # where in HF_SETUP
HF_SETUP = ("on_init_end", HF_BUILDS, "on_train_begin")
HF_EPOCH = (
    "on_epoch_begin", "on_step_begin", "on_substep_end", "on_pre_optimizer_step", "on_optimizer_step",
    "on_step_end", "on_evaluate", "on_log", "on_save", "on_epoch_end",
)
HF_BASES = frozenset({"TrainerCallback"})
HF_OPTIMIZER = "optimizer"  # the hooks' own `optimizer` argument
# A BaseFinetuning callback: `setup` runs `freeze_before_training`, then the module's optimizers are built.
FINETUNING_SETUP = ("setup", "freeze_before_training")
FINETUNING_EPOCH = ("on_fit_start", "on_train_start", "on_train_epoch_start", "finetune_function",
                    "on_train_batch_start", "on_train_batch_end", "on_train_epoch_end")
# Where each hook takes the LightningModule: `freeze_before_training(self, pl_module)`, `setup(self, trainer, pl_module, stage)`.
_FINETUNING_OWN_HOOKS = frozenset({"freeze_before_training", "finetune_function"})


def lifecycle_of(cls: ast.ClassDef) -> Optional[Sequence[Sequence[str]]]:
    """(setup hooks, repeated hooks) for a class whose framework order we know, else None."""
    for base in cls.bases:
        name = (dotted_name(base) or "").rsplit(".", 1)[-1]
        if name in LIGHTNING_BASES:
            return (LIGHTNING_SETUP, LIGHTNING_EPOCH)
        if name in HF_BASES:
            return (HF_SETUP, HF_EPOCH)
        if name in FINETUNING_BASES:
            return (FINETUNING_SETUP, FINETUNING_EPOCH)
    return None


def _param(fn: ast.AST, index: int) -> Optional[str]:
    """The name of a method's positional parameter (`self` is 0)."""
    args = fn.args.posonlyargs + fn.args.args
    return args[index].arg if len(args) > index else None


def _reroot(path: Optional[str], old: Optional[str], new: str) -> Optional[str]:
    if path is None or old is None or old == new:
        return path
    parts = segments(path)
    return ".".join([new] + parts[1:]) if parts[0] == old else path


def _finetuning_names(methods) -> Tuple[str, str]:
    """`finetune_function`'s names for the LightningModule and the optimizer (Lightning's own by default)."""
    fn = methods.get("finetune_function")
    return ((_param(fn, 1) or "pl_module") if fn else "pl_module", (_param(fn, 3) or "optimizer") if fn else "optimizer")


def _rerooted_event(ev: Event, hook: ast.AST, pl_module: str) -> Event:
    """A callback hook's event with its own name for the LightningModule replaced by `pl_module`."""
    old = _param(hook, 1 if hook.name in _FINETUNING_OWN_HOOKS else 2)
    if old is None or old == pl_module:
        return ev
    return dataclasses.replace(
        ev, target=_reroot(ev.target, old, pl_module),
        over=tuple((_reroot(p, old, pl_module), how) for p, how in ev.over),
    )


def _script_freeze(cls: ast.ClassDef, timeline: Timeline) -> None:
    """What a TrainerCallback's hooks run after: some of `model` frozen by the training script (assumed)."""
    stmt = cls.body[0] if cls.body else None
    timeline.events.append(Event(FREEZE, cls, stmt, index=0, target="model", whole=False))


def _trainer_optimizer(flow: FileFlow, cls: ast.ClassDef, index: int) -> Event:
    """The Trainer's optimizer over `model`: its parameters that require grad (transformers 4.26 and later)
    or all of them (before), for the newest transformers the project allows."""
    how = FILTER if trainer_optimizer(flow.facts.project.transformers_range).filtered else ALL
    stmt = cls.body[0] if cls.body else None
    return Event(OPT, cls, stmt, index=index, name=HF_OPTIMIZER, over=(("model", how),))


def lifecycle_timeline(flow: FileFlow, cls: ast.ClassDef) -> Optional[Timeline]:
    """The class's hook timelines joined in framework order; None if the class has no known lifecycle
    or fewer than two of its hooks have events (a single method is checked on its own anyway)."""
    order = lifecycle_of(cls)
    if order is None:
        return None
    methods = {m.name: m for m in cls.body if isinstance(m, FUNCTION_NODES)}
    setup, repeated = order
    joined = Timeline(cls, cls.name)
    if order[0] is HF_SETUP:
        _script_freeze(cls, joined)
    finetuning = order[0] is FINETUNING_SETUP
    pl_module, opt_name = _finetuning_names(methods) if finetuning else ("", "")
    loop_id = (id(cls) << 1) | 1  # one synthetic loop: the epochs and batches repeat
    used = 0 if order[0] is not HF_SETUP else 1  # the Trainer's own events count as one hook
    if finetuning and "freeze_before_training" not in methods and any(
            (dotted_name(b) or "").rsplit(".", 1)[-1] == BACKBONE_FINETUNING for b in cls.bases):
        # the inherited `freeze_before_training`: `self.freeze(pl_module.backbone)`
        stmt = cls.body[0] if cls.body else None
        joined.events.append(Event(FREEZE, cls, stmt, index=0, target=f"{pl_module}.backbone"))
    for names, looped in ((setup, False), (repeated, True)):
        if finetuning and looped:
            # the LightningModule's optimizers, built between the callback's setup and its epochs
            for ev in pl_module_optimizers(flow, cls, pl_module, opt_name):
                joined.events.append(dataclasses.replace(ev, index=len(joined.events)))
            used += 1
        for name in names:
            if name == HF_BUILDS:
                joined.events.append(_trainer_optimizer(flow, cls, len(joined.events)))
                continue
            fn = methods.get(name)
            if fn is None:
                continue
            tl = flow.timeline(fn)
            if not tl.events:
                # a hook with only an optimizer or a wrap in it (`configure_optimizers`) is gated like a helper
                tl = flow.timeline(fn, follow=False)
            if not tl.events:
                continue
            used += 1
            for ev in tl.events:
                if finetuning:
                    ev = _rerooted_event(ev, fn, pl_module)
                loops = ((loop_id,) if looped else ()) + ev.loops
                name = ev.name
                if ev.kind == OPT and name is None and fn.name == "configure_optimizers":
                    name = "self.trainer.optimizers[0]"  # what the hooks after it reach the optimizer as
                joined.events.append(dataclasses.replace(ev, index=len(joined.events), loops=loops, name=name))
            joined.terminated |= tl.terminated
    return joined if used >= 2 else None


def lifecycle_classes(tree: ast.Module) -> List[ast.ClassDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and lifecycle_of(n) is not None]
