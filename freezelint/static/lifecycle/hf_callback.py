"""Questions FRZ203 asks about a Hugging Face `TrainerCallback`'s joined timeline (hooks.py).

Its timeline starts with an assumed freeze of some of `model` by the training script, then the hooks
in the Trainer's order with the Trainer's own optimizer built between `on_init_end` and `on_train_begin`
(`hf_versions.py` has the order per transformers release).

Adding the parameters to that optimizer in a hook (`optimizer.add_param_group`) is no remedy: the Trainer
built its LR scheduler over the groups the optimizer had, and torch 2.13's `LRScheduler.step` zips the
two with `strict=True`, so the next step raises `ValueError: zip() argument 2 is shorter than argument 1`
(measured with transformers 5.24). What works is freezing in `on_train_begin`, after the build.
"""

from __future__ import annotations

import ast

from freezelint.static.flow import timeline as flow
from freezelint.static.lifecycle.hooks import HF_OPTIMIZER


def assumed_script_freeze(ev: flow.Event) -> bool:
    """The freeze a TrainerCallback's timeline starts with: the training script's, of some unknown part of `model`."""
    return ev.kind == flow.FREEZE and isinstance(ev.node, ast.ClassDef) and not ev.whole and ev.target == "model"


def trainer_built(ev: flow.Event) -> bool:
    """The HF Trainer's own optimizer, built in `train()` between `on_init_end` and `on_train_begin`."""
    return ev.kind == flow.OPT and isinstance(ev.node, ast.ClassDef) and ev.name == HF_OPTIMIZER and not ev.via


def refrozen_by_hooks(tl: flow.Timeline, o: flow.Event, u: flow.Event, target: str) -> bool:
    """The callback freezes `target` itself after the Trainer built its optimizer (`on_train_begin`, an epoch
    hook) and unfreezes it later: the optimizer took those parameters while they were trainable, unless a
    known freeze before the build covered them (only the training script's assumed one does)."""
    if frozen_before_build(tl, o, target):
        return False
    return any(f.target and flow.inside(target, f.target) for f in tl.between(o, u, flow.FREEZE))


def frozen_before_build(tl: flow.Timeline, o: flow.Event, target: str) -> bool:
    """Some of `target` was frozen by the callback itself before the Trainer built `o` (in `on_init_end`)."""
    return any(flow.overlap(f.target, target) and not assumed_script_freeze(f) for f in tl.before(o, flow.FREEZE))
