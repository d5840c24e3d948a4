"""Class lifecycles: Lightning BaseFinetuning callbacks against the LightningModule's optimizer,
and a Hugging Face Trainer whose second `train()` reuses the first run's optimizer."""

import ast
import textwrap

from static_support import lint_findings
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.parse.astutil import SourceText
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.lifecycle.hooks import lifecycle_timeline

MODULE_FILTER = """
import lightning.pytorch as pl
import torch


class Lit(pl.LightningModule):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def configure_optimizers(self):
        return torch.optim.Adam(filter(lambda p: p.requires_grad, self.parameters()), lr=1e-3)
"""
CALLBACK = """
from lightning.pytorch.callbacks import BaseFinetuning


class Unfreeze(BaseFinetuning):
    def freeze_before_training(self, model):
        self.freeze(model.backbone)

    def finetune_function(self, pl_module, epoch, opt):
        if epoch == 3:
            self.make_trainable(pl_module.backbone)
"""


def _timeline(src, class_name):
    text = textwrap.dedent(src)
    module = ast.parse(text)
    facts = FileFacts(module, SourceText(text))
    cls = next(n for n in ast.walk(module) if isinstance(n, ast.ClassDef) and n.name == class_name)
    return lifecycle_timeline(flow_file.file_flow(facts), cls)


def test_finetuning_hooks_meet_the_module_optimizer_in_lightning_order():
    tl = _timeline(MODULE_FILTER + CALLBACK, "Unfreeze")
    got = [(e.kind, e.target, e.over, e.name, bool(e.loops)) for e in tl.events]
    # `model` (freeze_before_training) and `pl_module` (finetune_function) are the same module
    assert got == [
        (flow.FREEZE, "pl_module.backbone", (), None, False),
        (flow.OPT, None, (("pl_module", flow.FILTER),), "opt", False),
        (flow.UNFREEZE, "pl_module.backbone", (), None, True),
    ]
    assert tl.of(flow.OPT)[0].via == "Lit.configure_optimizers"


def test_an_unfreeze_the_module_optimizer_lacks_says_what_to_call():
    found = lint_findings(MODULE_FILTER + CALLBACK, "FRZ203")
    assert [f.code for f in found] == ["FRZ203"]
    msg = found[0].message
    assert "`Lit.configure_optimizers` built it from a `requires_grad` filter" in msg
    assert "self.unfreeze_and_add_param_group(modules=pl_module.backbone, optimizer=opt)" in msg


def test_an_unseen_module_optimizer_is_unknown():
    tl = _timeline(CALLBACK, "Unfreeze")
    assert [e.over for e in tl.of(flow.OPT)] == [()]
    assert lint_findings(CALLBACK, "FRZ203") == []


def test_a_module_that_adds_param_groups_itself_is_unknown():
    adds = MODULE_FILTER + """
    def on_train_epoch_start(self):
        if self.current_epoch == 3:
            self.trainer.optimizers[0].add_param_group({"params": self.backbone.parameters()})
"""
    assert lint_findings(adds + CALLBACK, "FRZ203") == []


def _project(root, files):
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_a_lightning_module_in_another_file_keeps_the_callback_silent(run_cli, tmp_path):
    # the callback may be for that module, whose optimizer this file cannot see
    root = _project(tmp_path / "proj", {"model.py": MODULE_FILTER, "callbacks.py": MODULE_FILTER.replace("Lit", "Other") + CALLBACK})
    code, out, _ = run_cli("check", "--select", "FRZ203", "callbacks.py", cwd=root)
    assert (code, out.count("FRZ203")) == (0, 0)
    alone = _project(tmp_path / "alone", {"callbacks.py": MODULE_FILTER + CALLBACK})
    code, out, _ = run_cli("check", "--select", "FRZ203", "callbacks.py", cwd=alone)
    assert (code, out.count("FRZ203")) == (1, 1)


TRAINER = """
from transformers import Trainer


def stages(model, args, ds):
    model.bert.requires_grad_(False)
    trainer = Trainer(model=model, args=args, train_dataset=ds)
    trainer.train()
    model.bert.requires_grad_(True)
    trainer.train()
"""


def test_a_second_train_of_the_same_trainer_reuses_its_optimizer():
    found = lint_findings(TRAINER, "FRZ203")
    assert [(f.line, f.code) for f in found] == [(9, "FRZ203")]
    msg = found[0].message
    assert "between two `trainer.train()` runs" in msg
    assert "build a new `Trainer` after the unfreeze, or set `trainer.optimizer = None`" in msg


def test_deepspeed_rebuilds_the_optimizer_at_every_train():
    ds = TRAINER.replace("args=args", 'args=TrainingArguments("out", deepspeed="ds.json")')
    assert lint_findings(ds, "FRZ203") == []


def test_a_project_trainer_subclass_is_not_the_hf_trainer():
    # it may override create_optimizer
    sub = TRAINER.replace("from transformers import Trainer", "from transformers import Trainer as _T\n\nclass Trainer(_T):\n    pass")
    assert lint_findings(sub, "FRZ203") == []


def test_extending_an_existing_group_counts_as_adding_and_reading_lr_does_not():
    from freezelint.static.lifecycle.finetuning import adds_to_groups

    def cls(body):
        return ast.parse(textwrap.dedent("class C:\n    def f(self, optimizer, params):\n" + body)).body[0]

    assert adds_to_groups(cls('        optimizer.param_groups[0]["params"].extend(params)\n'))
    assert adds_to_groups(cls("        optimizer.param_groups = params\n"))
    assert not adds_to_groups(cls('        lr = optimizer.param_groups[0]["lr"]\n'))
    assert not adds_to_groups(cls('        optimizer.param_groups[-1]["lr"] = 0.1\n'))
