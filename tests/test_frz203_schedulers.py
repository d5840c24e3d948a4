"""FRZ203 when an LR scheduler was built over the optimizer before the unfreeze, run against torch
2.13 (and transformers, lightning): which schedulers an added parameter group breaks (the claims
of rules/optimizer/group_schedulers.py), that the old advice (`optimizer.add_param_group`) raises
with them, and that the advised code (the optimizer over the parameters from the start, or
optimizer and scheduler rebuilt) runs, keeps the frozen parameters still and trains them once
unfrozen. With StepLR the advice and the fix stay `add_param_group`, and the fixed code runs."""

import re
import textwrap

import pytest

from static_support import lint_findings
from freezelint.static.fix.fixer import fix_text

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402


# -- which schedulers break on an added group --------------------------------------------------

ZIP = "zip() argument 2 is shorter than argument 1"


def _hf(name):
    transformers = pytest.importorskip("transformers")
    return {
        "linear": lambda o: transformers.get_linear_schedule_with_warmup(o, 2, 10),
        "cosine": lambda o: transformers.get_cosine_schedule_with_warmup(o, 2, 10),
        "get_scheduler linear": lambda o: transformers.get_scheduler("linear", o, num_warmup_steps=2, num_training_steps=10),
        "get_scheduler reduce_lr_on_plateau": lambda o: transformers.get_scheduler("reduce_lr_on_plateau", o),
    }[name]


SCHEDULERS = {  # name -> (make, what the next steps do once a group is added)
    "LambdaLR": (lambda o: L.LambdaLR(o, lambda s: 0.9 ** s), (ValueError, ZIP)),
    "MultiplicativeLR": (lambda o: L.MultiplicativeLR(o, lambda s: 0.9), (ValueError, "zip()")),
    "CyclicLR": (lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2), (ValueError, ZIP)),
    "CosineAnnealingWarmRestarts": (lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3), (ValueError, ZIP)),
    "OneCycleLR": (lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=20), (KeyError, "initial_lr")),
    "SequentialLR": (
        lambda o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, total_iters=3), L.StepLR(o, 2)], milestones=[3]), (ValueError, ZIP)
    ),
    "hf linear": ("linear", (ValueError, ZIP)),
    "hf cosine": ("cosine", (ValueError, ZIP)),
    "hf get_scheduler linear": ("get_scheduler linear", (ValueError, ZIP)),
    "StepLR": (lambda o: L.StepLR(o, 2), None),
    "MultiStepLR": (lambda o: L.MultiStepLR(o, [2, 4]), None),
    "ExponentialLR": (lambda o: L.ExponentialLR(o, 0.9), None),
    "CosineAnnealingLR": (lambda o: L.CosineAnnealingLR(o, 10), None),
    "PolynomialLR": (lambda o: L.PolynomialLR(o, total_iters=10), None),
    "ReduceLROnPlateau": (lambda o: L.ReduceLROnPlateau(o), None),
    "hf get_scheduler reduce_lr_on_plateau": ("get_scheduler reduce_lr_on_plateau", None),
}


def _two_modules():
    torch.manual_seed(0)
    return nn.Linear(3, 3), nn.Linear(3, 3)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_which_schedulers_an_added_group_breaks(name):
    make, breaks = SCHEDULERS[name]
    make = _hf(make) if isinstance(make, str) else make
    first, added = _two_modules()
    opt = torch.optim.SGD(first.parameters(), lr=0.1, momentum=0.9)
    sched = make(opt)
    plateau = isinstance(sched, L.ReduceLROnPlateau)

    def steps(n):
        for _ in range(n):
            opt.step()
            sched.step(1.0) if plateau else sched.step()

    steps(1)
    opt.add_param_group({"params": added.parameters()})
    if breaks is None:
        steps(6)
        assert len(opt.param_groups) == 2
    else:
        with pytest.raises(breaks[0], match=re.escape(breaks[1])):
            steps(6)


@pytest.mark.parametrize("make", [lambda o: L.StepLR(o, 2), lambda o: L.CosineAnnealingLR(o, 10)])
def test_a_scheduler_stepped_with_an_epoch_breaks_too(make):
    first, added = _two_modules()
    opt = torch.optim.SGD(first.parameters(), lr=0.1)
    sched = make(opt)
    opt.step()
    sched.step()
    opt.add_param_group({"params": added.parameters()})
    with pytest.raises(ValueError, match=re.escape(ZIP)):
        sched.step(3)


@pytest.mark.parametrize("make", [lambda o: L.ConstantLR(o, factor=0.5, total_iters=3), lambda o: L.LinearLR(o, 0.5, total_iters=3)])
def test_a_warm_up_leaves_an_added_group_above_its_own_rate(make):
    first, added = _two_modules()
    opt = torch.optim.SGD(first.parameters(), lr=0.1)
    sched = make(opt)
    opt.add_param_group({"params": added.parameters(), "lr": 0.1})
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    assert opt.param_groups[1]["lr"] > 0.15  # 0.2 with ConstantLR


# -- the advice, run ---------------------------------------------------------------------------

PROGRAM = """
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, StepLR


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer4 = nn.Linear(4, 4)
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(self.layer4(x))


def main():
    torch.manual_seed(0)
    model = Net()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = {optimizer}
    scheduler = {scheduler}
    x = torch.randn(8, 4)
    start = model.layer4.weight.detach().clone()
    for step in range(6):
        if step == 3:
            assert torch.equal(start, model.layer4.weight), "a frozen parameter moved"
            model.layer4.requires_grad_(True)
            pass  # AFTER THE UNFREEZE
        model(x).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad({zero})
    return model, optimizer, start
"""

ADAMW = "torch.optim.AdamW(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, weight_decay=0.1)"
SGD = "torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9, weight_decay=0.1)"
LAMBDA = "LambdaLR(optimizer, lambda s: 0.9 ** s)"
ONE_CYCLE = "OneCycleLR(optimizer, max_lr=0.1, total_steps=10)"
HF_LINEAR = "get_linear_schedule_with_warmup(optimizer, 2, 10)"
CASES = {
    "AdamW, LambdaLR": (ADAMW, LAMBDA, "", ValueError),
    "SGD with momentum, LambdaLR, zero_grad(set_to_none=False)": (SGD, LAMBDA, "set_to_none=False", ValueError),
    "AdamW, OneCycleLR": (ADAMW, ONE_CYCLE, "", KeyError),
    "SGD with momentum, get_linear_schedule_with_warmup": (SGD, HF_LINEAR, "", ValueError),
}


def _program(optimizer, scheduler, zero=""):
    src = PROGRAM.format(optimizer=optimizer, scheduler=scheduler, zero=zero)
    if "get_linear" in scheduler:
        pytest.importorskip("transformers")
        src = "from transformers import get_linear_schedule_with_warmup\n" + src
    return src


def _message(src):
    found = [f for f in lint_findings(src, "FRZ203") if f.code == "FRZ203"]
    assert len(found) == 1, found
    return found[0]


def _run(src):
    scope = {}
    exec(compile(src, "<program>", "exec"), scope)
    return scope["main"]()


@pytest.mark.parametrize("case", sorted(CASES))
def test_old_advice_raises_and_the_new_advice_trains(case):
    optimizer, scheduler, zero, raised = CASES[case]
    src = _program(optimizer, scheduler, zero)
    finding = _message(src)
    message = finding.message
    assert finding.fix is None, "no fix adds a group the scheduler cannot take"
    assert "add_param_group` is no fix here" in message and "add_param_group({" not in message

    old = src.replace("pass  # AFTER THE UNFREEZE", "optimizer.add_param_group({'params': model.layer4.parameters()})")
    with pytest.raises(raised):
        _run(old)

    advised = re.search(r"`(optimizer = torch\.optim\.[^`]+)`", message).group(1)
    assert advised == "optimizer = " + optimizer.split("(", 1)[0] + "(model.parameters()" + optimizer.split(", lr=", 1)[1].join([", lr=", ""])
    new = src.replace(f"optimizer = {optimizer}", advised)
    assert new != src
    model, opt, start = _run(new)  # asserts inside: the frozen layer stayed put until unfrozen
    assert not torch.equal(start, model.layer4.weight)  # and trained after
    assert len(opt.param_groups) == 1

    rebuilt = src.replace(
        "pass  # AFTER THE UNFREEZE", f"optimizer = {optimizer}\n            scheduler = {scheduler}"
    )
    model, opt, start = _run(rebuilt)  # the other advised way
    assert not torch.equal(start, model.layer4.weight)


def test_step_lr_keeps_the_add_param_group_advice_and_its_fix_runs():
    src = _program(ADAMW, "StepLR(optimizer, step_size=2)")
    finding = _message(src)
    assert "add them with `optimizer.add_param_group(" in finding.message and finding.fix is not None
    fixed = fix_text("t.py", src, lambda t: lint_findings(t, "FRZ203"), True).text
    assert "optimizer.add_param_group(" in fixed
    model, opt, start = _run(fixed)
    assert not torch.equal(start, model.layer4.weight) and len(opt.param_groups) == 2


def test_a_scheduler_rebuilt_after_the_unfreeze_keeps_the_fix_and_it_runs():
    src = _program(ADAMW, LAMBDA).replace(
        "pass  # AFTER THE UNFREEZE", "pass  # AFTER THE UNFREEZE\n            scheduler = LambdaLR(optimizer, lambda s: 0.9 ** s)"
    )
    finding = _message(src)
    assert finding.fix is not None
    fixed = fix_text("t.py", src, lambda t: lint_findings(t, "FRZ203"), True).text
    model, opt, start = _run(fixed)
    assert not torch.equal(start, model.layer4.weight) and len(opt.param_groups) == 2


def test_a_frozen_parameter_with_a_stale_zero_grad_is_moved():
    """The caveat of building over everything (FRZ202's case): a parameter frozen after it had a
    gradient keeps a zero `.grad` under `zero_grad(set_to_none=False)`, and AdamW's decay moves it."""
    first, _ = _two_modules()
    opt = torch.optim.AdamW(first.parameters(), lr=0.1, weight_decay=0.1)
    first(torch.randn(2, 3)).sum().backward()
    opt.step()
    first.requires_grad_(False)
    opt.zero_grad(set_to_none=False)
    before = first.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, first.weight)


# -- a Lightning BaseFinetuning callback over a LightningModule with such a scheduler ----------

LIGHTNING = """
import torch
import torch.nn as nn
import lightning.pytorch as pl
from lightning.pytorch.callbacks import BaseFinetuning


class LitModel(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.head(self.backbone(batch[0])).pow(2).mean()

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW({params}, lr=0.1)
        scheduler = torch.optim.lr_scheduler.{scheduler}
        return {{"optimizer": optimizer, "lr_scheduler": {{"scheduler": scheduler, "interval": "step"}}}}


class Unfreeze(BaseFinetuning):
    def freeze_before_training(self, pl_module):
        self.freeze(pl_module.backbone)

    def finetune_function(self, pl_module, current_epoch, optimizer):
        if current_epoch == 1:
            {unfreeze}
"""
LIT_ADD = "self.unfreeze_and_add_param_group(modules=pl_module.backbone, optimizer=optimizer)"
LIT_FILTER = "filter(lambda p: p.requires_grad, self.parameters())"
LIT_TRAINABLE = "self.make_trainable(pl_module.backbone)"


def _fit(src):
    pl = pytest.importorskip("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    scope = {}
    exec(compile(src, "<lightning>", "exec"), scope)
    model = scope["LitModel"]()
    start = model.backbone.weight.detach().clone()
    trainer = pl.Trainer(
        max_epochs=3, callbacks=[scope["Unfreeze"]()], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(model, DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4))
    return model, start


@pytest.mark.parametrize("scheduler", ["LambdaLR(optimizer, lambda s: 0.9 ** s)", "OneCycleLR(optimizer, max_lr=0.1, total_steps=100)"])
def test_finetuning_advice_with_a_breaking_scheduler(scheduler):
    src = textwrap.dedent(LIGHTNING).format(params=LIT_FILTER, scheduler=scheduler, unfreeze=LIT_TRAINABLE)
    message = _message(src).message
    assert "unfreeze_and_add_param_group` is no fix here" in message and "over `self.parameters()`" in message
    with pytest.raises((ValueError, KeyError)):
        _fit(src.replace(LIT_TRAINABLE, LIT_ADD))  # what the message said before
    model, start = _fit(src.replace(LIT_FILTER, "self.parameters()"))  # the advice: it trains once unfrozen
    assert not torch.equal(start, model.backbone.weight)


def test_finetuning_with_step_lr_keeps_its_advice_and_it_runs():
    src = textwrap.dedent(LIGHTNING).format(params=LIT_FILTER, scheduler="StepLR(optimizer, 2)", unfreeze=LIT_TRAINABLE)
    assert f"use `{LIT_ADD}`" in _message(src).message
    model, start = _fit(src.replace(LIT_TRAINABLE, LIT_ADD))
    assert not torch.equal(start, model.backbone.weight)
