from __future__ import annotations

import ast

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.fix.codemods import plans
from freezelint.static.fix.codemods.requests import add_param_group
from freezelint.static.lifecycle.hf_versions import trainer_optimizer
from freezelint.static.lifecycle import hf_callback as hf
from freezelint.static.rules.optimizer import add_group_advice, group_schedulers
from freezelint.static.rules import wording
from freezelint.static.rules.flow_rule import FlowRule


def _frozen_at_build(tl: flow.Timeline, o: flow.Event, target: str) -> bool:
    """Part of `target` was frozen when `o` was built (not all of it unfrozen again before that)."""
    return any(
        flow.overlap(f.target, target)
        and not any(flow.inside(target, u.target) for u in tl.between(f, o, flow.UNFREEZE))
        for f in tl.before(o, flow.FREEZE)
    )


def _none_held(tl: flow.Timeline, o: flow.Event, target: str) -> bool:
    """`o` holds none of `target`'s parameters: built over other modules only, or from a `requires_grad`
    filter while all of `target` was frozen (so adding what requires grad under it adds no duplicate)."""
    if all(how != flow.FILTER for _, how in o.over):
        return not any(flow.overlap(t, target) for t, _ in o.over)
    return any(
        f.whole and flow.inside(target, f.target)
        and not any(flow.overlap(target, u.target) for u in tl.between(f, o, flow.UNFREEZE))
        for f in tl.before(o, flow.FREEZE)
    )


class UnfreezeNotInOptimizer(FlowRule):
    """
    ## What it does
    Flags parameters unfrozen after the optimizer was built from a
    `requires_grad` filter (or from an explicit subset of the model that
    does not include them), with no `add_param_group` and no rebuild.

    It follows the hooks frameworks call in order:

    - a LightningModule's `configure_optimizers` before its epoch hooks;
    - a Hugging Face `TrainerCallback`: `on_init_end` runs at the end of
      `Trainer.__init__`, then `train()` builds the Trainer's optimizer, then
      `on_train_begin` and the epoch hooks run (the same order from transformers
      4.0 to 5.25). From transformers 4.26 that optimizer takes only the parameters
      that require grad then, so an unfreeze in a hook of what was frozen before
      `train()` (by the training script, which the rule assumes froze some of the
      model, or in `on_init_end`) is flagged. A callback that freezes a part itself
      in `on_train_begin` or later and unfreezes it afterwards is not: the optimizer
      took those parameters while they were trainable. Before 4.26 the optimizer held
      every parameter and such an unfreeze trains them;
    - a Lightning `BaseFinetuning` callback: `freeze_before_training` runs before
      the LightningModule's `configure_optimizers`, `finetune_function` at every
      epoch start with that optimizer. An unfreeze there (`self.make_trainable(...)`,
      `requires_grad_(True)`) of what `freeze_before_training` froze, with no
      `unfreeze_and_add_param_group` or `add_param_group`, is flagged when every
      LightningModule of the project is in the callback's file and each one's
      optimizer lacks those parameters (a `requires_grad` filter, or only other
      submodules). It stays silent when a module's optimizer takes all of
      `self.parameters()`, or when the module may be one it cannot see. A
      `BackboneFinetuning` subclass that replaces `finetune_function` without
      calling `super()` is checked against its inherited freeze of `pl_module.backbone`;
    - a Hugging Face `Trainer` whose `train()` runs twice: the first run builds the
      optimizer over the parameters that require grad then, the second reuses it
      (`create_optimizer` builds one only while `trainer.optimizer` is None), so an
      unfreeze between the runs is flagged unless the name is rebound to a new
      Trainer, `trainer.optimizer` is reset or `create_optimizer` called between them.
      A Trainer given `optimizers=` or `model_init=`, a project's own Trainer
      subclass and a file that mentions DeepSpeed (which rebuilds the optimizer at
      every `train()`) are left alone.

    The Hugging Face forms answer for the newest transformers the project's
    requirements allow (requirements*.txt, pyproject.toml, setup.cfg, setup.py,
    conda environment files), which is what installing the project gets: nothing is
    reported when they allow only versions before 4.26, and a project that does not
    name transformers is taken to run 4.26 or later. The message says which versions
    it assumed, and when the requirements also allow versions before 4.26.

    ## Why is this bad?
    The optimizer only updates the parameters it was given. The unfrozen
    parameters now get gradients (costing memory and time) but never change:
    gradual unfreezing silently does nothing.

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    for epoch in range(10):
        if epoch == 5:
            model.layer4.requires_grad_(True)
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    for epoch in range(10):
        if epoch == 5:
            model.layer4.requires_grad_(True)
            optimizer.add_param_group({"params": model.layer4.parameters(), "lr": 0.001})
    ```

    In a `BaseFinetuning` callback, `self.unfreeze_and_add_param_group(modules=pl_module.backbone,
    optimizer=optimizer)` does both (it adds only the parameters the optimizer lacks). Between two
    runs of a Hugging Face Trainer, build a new `Trainer` after the unfreeze, or set
    `trainer.optimizer = None` before calling `trainer.train()` again. In a `TrainerCallback`,
    freeze in `on_train_begin` (after the Trainer built its optimizer, which then holds the
    frozen parameters and trains them once unfrozen) rather than before `train()` or in
    `on_init_end`; an `optimizer.add_param_group` in a hook makes the Trainer's LR scheduler,
    built over the groups the optimizer had, raise at its next step (torch 2.13).

    With an LR scheduler built over the optimizer before the unfreeze and used after it,
    `add_param_group` is no answer when the added group breaks that scheduler (torch 2.13):
    `LambdaLR` (so transformers' `get_linear_schedule_with_warmup` and the other
    `get_*_schedule*` but the plateau and greedy ones), `MultiplicativeLR`, `CyclicLR`,
    `CosineAnnealingWarmRestarts` and `SequentialLR` raise `ValueError` at their next step or
    milestone, `OneCycleLR` raises `KeyError: 'initial_lr'`, any scheduler stepped with an epoch
    (`scheduler.step(epoch)`) raises, and `LinearLR` / `ConstantLR` leave a group added during
    their warm-up above its own learning rate. The message then says to build the optimizer over
    those parameters from the start (`torch.optim.AdamW(model.parameters(), lr=1e-3)`: frozen
    parameters get no `.grad` and torch's optimizers skip them until they are unfrozen), or to
    rebuild the optimizer and the scheduler after the unfreeze. `StepLR`, `MultiStepLR`,
    `ExponentialLR`, `CosineAnnealingLR`, `PolynomialLR` and `ReduceLROnPlateau` take an added
    group. In a `BaseFinetuning` callback the same holds for the scheduler the LightningModule's
    `configure_optimizers` returns: build its optimizer over `self.parameters()` and keep the
    unfreeze.

    ## Fix safety
    The fix adds `optimizer.add_param_group({"params": [p for p in X.parameters()
    if p.requires_grad]})` after the unfreeze of `X` (after its whole loop), only
    when the optimizer holds none of `X`'s parameters (built over other modules,
    or from a `requires_grad` filter while all of `X` was frozen), and only when
    the unfreeze runs once per call: in a loop, only under a one-time condition
    (`if epoch == 5:`, or `if not done:` whose body sets `done = True`), since a
    second `add_param_group` of the same parameters is an error; and never when a
    scheduler built over the optimizer before the unfreeze breaks on an added group (above).
    It is unsafe: the new group takes the optimizer's defaults.
    """

    code = "FRZ203"
    checks_lifecycles = True
    name = "unfreeze-not-in-optimizer"
    summary = "parameters unfrozen after the optimizer was built without them"
    severity = Severity.WARNING
    triggers = ("requires_grad", "unfreeze", "make_trainable")
    fixable = "unsafe"

    def check(self, tl: flow.Timeline) -> None:
        self._check_reused_trainer(tl)
        opts = tl.of(flow.OPT)
        if not opts or tl.of(flow.ADD_GROUP):
            return
        for u in tl.of(flow.UNFREEZE):
            target = u.target
            if target is None:
                continue
            before = [o for o in tl.before(u, flow.OPT) if o.over and all(t for t, _ in o.over)]
            if not before or tl.after(u, flow.OPT):
                continue
            if any(
                (how == flow.ALL and flow.inside(target, t)) or (how == flow.SUBSET and flow.overlap(t, target))
                for o in before
                for t, how in o.over
            ):
                continue  # some optimizer holds them (or may)
            evidence = None
            for o in before:
                filtered = any(how == flow.FILTER and flow.overlap(t, target) for t, how in o.over)
                if filtered and hf.trainer_built(o):
                    evidence = None if hf.refrozen_by_hooks(tl, o, u, target) else (o, "")
                elif filtered and _frozen_at_build(tl, o, target):
                    evidence = (o, "was built from a `requires_grad` filter while they were frozen")
                elif not filtered and all(flow.root(t) == flow.root(target) for t, _ in o.over):
                    evidence = (o, "was built over " + ", ".join(f"`{t}`" for t, _ in o.over) + " only")
            if evidence is None:
                continue
            o, why = evidence
            opt = o.name or "the optimizer"
            if isinstance(o.node, ast.ClassDef) and o.via:
                self._report_finetuning(u, o, target)
                continue
            if hf.trainer_built(o):
                self._report_trainer_callback(tl, u, o, target)
                continue
            own = wording.written(target, wording.event_code(tl, u), self.facts)  # `model.module.x`, as written
            who, advice = add_group_advice.advise(tl, u, o, opt, self.facts)  # Python that runs, never a duplicate
            sched = group_schedulers.breaking_scheduler(tl, u, o.name, self.facts)
            if sched is not None:  # an added group breaks it: no add_param_group, no fix
                self.report_at(u, f"{self._unfrozen(who, u, opt, why)}; {group_schedulers.advice(sched, o, u, opt, own, self.facts)}")
                continue
            codemod = plans.add_group_after_unfreeze(tl, u, o.name, own) if _none_held(tl, o, target) else None
            if codemod is not None:  # the fix's own line (none of them is held)
                advice = f"add them with `{add_param_group(opt, own)}`, or rebuild the optimizer"
            elif u.stmt is not None and not u.via and plans.repeats(tl.node, u.stmt):  # no fix for that reason
                advice = f"the unfreeze runs at every pass of its loop, so add them once (under a condition true once): {advice}"
            self.report_at(u, f"{self._unfrozen(who, u, opt, why)}; {advice}", codemod=codemod)

    @staticmethod
    def _unfrozen(who: str, u: flow.Event, opt: str, why: str) -> str:
        """What is wrong, up to the advice."""
        verb = "are" if who.startswith(("the ", "some ")) else "is"
        return f"{who} {verb} unfrozen{flow.describe(u)} but `{opt}` {why}: they get gradients and never change"

    def _report_trainer_callback(self, tl: flow.Timeline, u: flow.Event, o: flow.Event, target: str) -> None:
        """A TrainerCallback's unfreeze of what was frozen when `train()` built the Trainer's optimizer (`o`)."""
        version = trainer_optimizer(self.facts.project.transformers_range).assumed
        who = add_group_advice.advise(tl, u, o, "optimizer", self.facts)[0]
        if hf.frozen_before_build(tl, o, target):
            when, move = "after `on_init_end` froze them", "freeze them in `on_train_begin` instead of `on_init_end`"
        else:
            when = "while they were frozen (if the training script froze them before `train()`)"
            move = "freeze them in this callback's `on_train_begin` instead of before `train()`"
        self.report_at(
            u,
            f"{who} {'are' if who.startswith(('the ', 'some ')) else 'is'} unfrozen{flow.describe(u)} but the Trainer "
            f"built its optimizer in `train()`, before `on_train_begin`, over the parameters that required grad then "
            f"(assumed: {version}), {when}: they get gradients and never change; {move}: it runs after the optimizer "
            f"is built, which then holds them, and they train once unfrozen (`optimizer.add_param_group` in a hook breaks "
            f"the Trainer's LR scheduler, built over the groups the optimizer had)",
        )

    def _report_finetuning(self, u: flow.Event, o: flow.Event, target: str) -> None:
        """A BaseFinetuning callback's unfreeze; `o` is a LightningModule's optimizer (lifecycle_finetuning)."""
        opt = o.name or "optimizer"
        if any(how == flow.FILTER for _, how in o.over):
            why = "from a `requires_grad` filter after `freeze_before_training` froze them"
        else:
            shown = ", ".join("`" + ".".join(["self"] + flow.segments(t)[1:]) + "`" for t, _ in o.over if t)
            why = f"over {shown} only"
        advice = (
            f"use `self.unfreeze_and_add_param_group(modules={target}, optimizer={opt})`, which unfreezes them and adds "
            f"those `{opt}` lacks"
        )
        sched = group_schedulers.returned_scheduler(o.stmt, self.facts) if o.stmt is not None else None
        if sched is not None:  # Lightning steps it: an added group breaks it
            advice = group_schedulers.finetuning_advice(sched, o, target)
        self.report_at(
            u,
            f"`{target}` is unfrozen{flow.describe(u)} but never added to `{opt}`: `{o.via}` built it {why}, "
            f"so they get gradients and never change; {advice}",
        )

    def _check_reused_trainer(self, tl: flow.Timeline) -> None:
        """`trainer.train()`, unfreeze, `trainer.train()`: the second run reuses the first run's optimizer."""
        from freezelint.static.lifecycle.hf_trainer import reused_optimizer_unfreezes

        for r in reused_optimizer_unfreezes(self.flow, tl):
            t = r.trainer
            version = trainer_optimizer(self.facts.project.transformers_range).assumed
            self.report_at(
                r.unfreeze,
                f"`{r.unfreeze.target}` is unfrozen{flow.describe(r.unfreeze)} between two `{t}.train()` runs, but the "
                f"second run reuses the optimizer the first one built over the parameters that required grad then "
                f"(`Trainer.create_optimizer` builds one only while `{t}.optimizer` is None; assumed: {version}): they get gradients and "
                f"never change; build a new `Trainer` after the unfreeze, or set `{t}.optimizer = None` before "
                f"calling `{t}.train()` again",
            )
