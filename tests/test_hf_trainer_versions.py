"""The Hugging Face Trainer's optimizer, per transformers version (lifecycle/hf_versions.py): `on_init_end` runs
before `train()` builds it and `on_train_begin` after, on every release from 4.0 to 5.25; from 4.26 it holds only the
parameters that require grad then, before 4.26 all of them. FRZ203 answers for the newest version the project's
requirements allow and says which it assumed."""

import textwrap

import pytest

from freezelint.static.lifecycle.hf_versions import trainer_optimizer
from freezelint.static.semantic.project import ProjectIndex

CALLBACK = """
from transformers import TrainerCallback


class HeadFirst(TrainerCallback):
    def on_init_end(self, args, state, control, model=None, **kwargs):
        model.encoder.requires_grad_(False)

    def on_epoch_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if state.epoch == 2:
            model.encoder.requires_grad_(True)
"""
# the callback freezes the encoder itself once the optimizer holds it: unfreezing it later trains it
FROZEN_AFTER_THE_BUILD = CALLBACK.replace("def on_init_end", "def on_train_begin")
TWICE = """
from transformers import Trainer


def head_then_all(model, args, data):
    model.encoder.requires_grad_(False)
    trainer = Trainer(model=model, args=args, train_dataset=data)
    trainer.train()
    model.encoder.requires_grad_(True)
    trainer.train()
"""


def _check(run_cli, root, requirements, source, *extra):
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    (root / "train.py").write_text(textwrap.dedent(source).lstrip())
    return run_cli("check", "train.py", "--select", "FRZ203", "--output-format", "concise", "--no-cache", *extra, cwd=root)


@pytest.mark.parametrize("source, line", [(CALLBACK, 10), (TWICE, 8)], ids=["callback", "train-twice"])
@pytest.mark.parametrize("requirements, says", [
    ("transformers>=4.30\n", "assumed: transformers 4.30 or later, from the project's requirements"),
    ("transformers==5.24.0\ntorch\n", "assumed: transformers 5.24, from the project's requirements"),
    ("transformers>=4.20,<5\n", "assumed: transformers 4.26 up to 4.x, which the project's requirements allow "
                                "(before 4.26 the Trainer's optimizer held every parameter, frozen ones too)"),
    (None, "assumed: transformers 4.26 or later, which the project does not pin"),
])
def test_reported_on_versions_whose_optimizer_takes_what_requires_grad(run_cli, tmp_path, source, line, requirements, says):
    code, out, _ = _check(run_cli, tmp_path / "p", requirements, source)
    assert code == 1 and f"train.py:{line}:" in out and says in out, out


@pytest.mark.parametrize("source", [CALLBACK, TWICE], ids=["callback", "train-twice"])
@pytest.mark.parametrize("requirements", ["transformers==4.25.1\n", "transformers>=4.10,<4.26\n", "transformers<=4.21\n"])
def test_not_reported_where_the_optimizer_holds_every_parameter(run_cli, tmp_path, source, requirements):
    code, out, _ = _check(run_cli, tmp_path / "p", requirements, source)
    assert code == 0, out


@pytest.mark.parametrize("requirements", ["transformers>=4.30\n", "transformers==4.25.1\n", None])
def test_a_freeze_in_on_train_begin_is_undone_on_every_version(run_cli, tmp_path, requirements):
    code, out, _ = _check(run_cli, tmp_path / "p", requirements, FROZEN_AFTER_THE_BUILD)
    assert code == 0, out


def test_the_advice_is_to_freeze_in_on_train_begin_and_no_add_param_group_fix(run_cli, tmp_path):
    """`optimizer.add_param_group` in a hook breaks the Trainer's LR scheduler (torch 2.13: `zip(..., strict=True)`
    in `LRScheduler.step`), so neither the advice nor a fix adds a group; freezing after the build is the remedy."""
    code, out, _ = _check(run_cli, tmp_path / "p", None, CALLBACK, "--show-fixes", "--unsafe-fixes")
    assert code == 1 and "after `on_init_end` froze them" in out
    assert "freeze them in `on_train_begin` instead of `on_init_end`" in out and "= fix" not in out
    script = CALLBACK.replace("    def on_init_end(self, args, state, control, model=None, **kwargs):\n"
                              "        model.encoder.requires_grad_(False)\n\n", "")
    code, out, _ = _check(run_cli, tmp_path / "q", None, script, "--show-fixes", "--unsafe-fixes")
    assert code == 1 and "freeze them in this callback's `on_train_begin` instead of before `train()`" in out, out


def test_trainer_optimizer_per_range():
    assert trainer_optimizer(((4, 20), (4, 25))).filtered is False
    assert trainer_optimizer((None, (4, 25))).filtered is False
    assert trainer_optimizer(((4, 26), None)).filtered is True
    assert trainer_optimizer(((4, 20), None)).filtered is True  # what a fresh install of the project gets
    assert trainer_optimizer((None, None)).filtered is True


def test_the_project_digest_follows_the_transformers_requirement(tmp_path):
    """Cached results depend on the version: a requirement change must not reuse them."""
    digests = []
    for i, req in enumerate(["transformers==4.25.1\n", "transformers>=4.30\n", ""]):
        root = tmp_path / str(i)
        root.mkdir()
        (root / "requirements.txt").write_text(req)
        index = ProjectIndex.build([], root=str(root))
        digests.append(index.digest)
    assert len(set(digests)) == 3
