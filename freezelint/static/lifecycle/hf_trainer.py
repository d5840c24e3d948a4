"""A Hugging Face `Trainer` whose `train()` runs twice: the second run reuses the first run's optimizer.

`Trainer.train` builds its optimizer in `create_optimizer`, only while `self.optimizer is None`,
over the parameters that require grad at that moment (transformers/trainer.py,
`create_optimizer`: `if self.optimizer is None:` and, from transformers 4.26, `p.requires_grad` in
both groups: before 4.26 it holds every parameter and an unfreeze between runs trains them, so a
project whose requirements allow only older versions is left alone, `hf_versions.py`); nothing
in `train` sets it back to None except `model_init` (the model is re-created) and DeepSpeed's
`deepspeed_init` (integrations/deepspeed.py: `trainer.optimizer = None`). The scheduler is
rebuilt, the optimizer is not. So "train the head, unfreeze the backbone, `trainer.train()`
again" gives the backbone gradients and no optimizer.

`reused_optimizer_unfreezes` finds that order on one scope's flow timeline: a `Trainer(...)`
bound to a name, its first `.train()`, an unfreeze of part of its model that was frozen
before that run, and a second `.train()` of the same Trainer, with nothing in between that
rebinds the name, touches `trainer.optimizer` or calls `trainer.create_optimizer*()`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import List, Optional, Tuple

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import FUNCTION_NODES, arg, dotted_name, method_name
from freezelint.static.flow.file_flow import FileFlow
from freezelint.static.lifecycle.hf_versions import trainer_optimizer

# The Trainers whose optimizer is `create_optimizer`'s (a project's own subclass may override it).
HF_TRAINERS = frozenset({
    "transformers.Trainer", "transformers.trainer.Trainer",
    "transformers.Seq2SeqTrainer", "transformers.trainer_seq2seq.Seq2SeqTrainer",
})
# Keywords that give the Trainer an optimizer of the caller's or re-create it at every `train()`.
_OWN_OPTIMIZER_KEYWORDS = frozenset({"optimizers", "model_init"})
_RESET_METHODS = frozenset({"create_optimizer", "create_optimizer_and_scheduler"})


@dataclass
class ReusedOptimizer:
    unfreeze: flow.Event
    first: flow.Event  # the `train()` that built the optimizer
    second: flow.Event  # the `train()` that reuses it
    trainer: str  # the name the Trainer is bound to
    model: str  # the model path it trains


Pos = Tuple[int, int]


def _pos(node: ast.AST) -> Pos:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _constructions(flow_: FileFlow, tl: flow.Timeline) -> List[Tuple[flow.Event, str, str]]:
    """(event, trainer name, model path) for each `name = Trainer(model, ...)` of this scope."""
    facts = flow_.facts
    scope = facts.scope_of.get(id(tl.node), facts.module_scope)
    out = []
    for ev in tl.of(flow.PASS):
        call, stmt = ev.node, ev.stmt
        if not isinstance(call, ast.Call) or not isinstance(stmt, ast.Assign) or stmt.value is not call:
            continue
        if len(stmt.targets) != 1 or (facts.qualified(call.func, scope) or "") not in HF_TRAINERS:
            continue
        if any(k.arg is None or k.arg in _OWN_OPTIMIZER_KEYWORDS for k in call.keywords):
            continue  # `**kwargs` may hold either
        if any(isinstance(a, ast.Starred) for a in call.args):
            continue
        name, model = dotted_name(stmt.targets[0]), dotted_name(arg(call, 0, "model"))
        if name and model:
            out.append((ev, name, model))
    return out


def _resets(scope: ast.AST, trainer: str) -> List[Pos]:
    """Where this scope rebinds the Trainer's name, touches its `optimizer`, or asks it for a new one."""
    out: List[Pos] = []
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, FUNCTION_NODES + (ast.ClassDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            name = dotted_name(node)
            if name == trainer or name == f"{trainer}.optimizer":
                out.append(_pos(node))
        elif isinstance(node, ast.Call) and method_name(node) in _RESET_METHODS:
            if dotted_name(node.func.value) == trainer:
                out.append(_pos(node))
    return out


def _model_path(target: str, trainer: str, model: str) -> Optional[str]:
    """The unfreeze target as a path below the Trainer's model (`trainer.model.x` is `model.x`)."""
    prefix = f"{trainer}.model"
    if flow.inside(target, prefix):
        return model + target[len(prefix):]
    return target if flow.overlap(target, model) else None


def _frozen_at(tl: flow.Timeline, target: str, run: flow.Event) -> bool:
    """Part of `target` was frozen when `run` built the optimizer, and not unfrozen again before it."""
    for f in tl.before(run, flow.FREEZE):
        if not flow.overlap(f.target, target):
            continue
        if not any(flow.overlap(u.target, target) for u in tl.between(f, run, flow.UNFREEZE)):
            return True
    return False


def reused_optimizer_unfreezes(flow_: FileFlow, tl: flow.Timeline) -> List[ReusedOptimizer]:
    if isinstance(tl.node, ast.ClassDef) or not tl.of(flow.UNFREEZE) or tl.of(flow.ADD_GROUP):
        return []
    if not trainer_optimizer(flow_.facts.project.transformers_range).filtered:
        return []  # before transformers 4.26 the reused optimizer holds every parameter
    built_here = _constructions(flow_, tl)
    if not built_here or "deepspeed" in (flow_.facts.source.text if flow_.facts.source is not None else ""):
        return []  # `deepspeed_init` builds a new optimizer at every `train()`
    found: List[ReusedOptimizer] = []
    for built, trainer, model in built_here:
        runs = [t for t in tl.after(built, flow.TRAIN) if t.target == trainer and isinstance(t.node, ast.Call)
                and set(built.loops) <= set(t.loops)]
        resets = _resets(tl.node, trainer)
        for first, second in zip(runs, runs[1:]):
            if first.loops != second.loops or tl.apart(first, second):
                continue
            if any(_pos(first.node) < r < _pos(second.node) for r in resets):
                continue
            for u in tl.between(first, second, flow.UNFREEZE):
                target = _model_path(u.target, trainer, model) if u.target else None
                if target is None or u.loops[:len(first.loops)] != first.loops:
                    continue
                if _frozen_at(tl, target, first):
                    found.append(ReusedOptimizer(u, first, second, trainer, model))
    return found
