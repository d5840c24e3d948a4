"""A trainer class (not a Module) holding a model built by a factory of another file: its `self.model`
is that model, and the submodules the model's class builds in its own file are Modules."""

import textwrap

MODELS = """
import torch.nn as nn


class OutConv(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 1)


class UNet(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.inc = nn.Conv2d(3, 64, 3)
        self.outc = OutConv(64, n)
        self.scale = nn.Parameter(nn.init.ones_(nn.Linear(1, 1).weight))
"""
FACTORY = """
from models.unet import UNet


def get_model(cfg):
    return UNet(cfg["classes"])
"""
TRAINER = """
import torch
from models import get_model


class Trainer:
    def __init__(self, opt):
        self.opt = opt
        self.model = get_model(self.opt)
        self.model = self.model.to(self.opt["device"])
        self.model.outc.requires_grad = {flag}
        self.model.scale.requires_grad = False
        self.optimizer = torch.optim.Adam(self.model.parameters())
"""


def _project(root, flag):
    (root / "models").mkdir(parents=True)
    (root / "trainers").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "models" / "unet.py").write_text(textwrap.dedent(MODELS))
    (root / "models" / "__init__.py").write_text(textwrap.dedent(FACTORY))
    (root / "trainers" / "trainer.py").write_text(textwrap.dedent(TRAINER.format(flag=flag)))
    return root


def test_submodule_of_a_factory_model_held_by_a_trainer(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "False")
    code, stdout, _ = run_cli("check", "trainers/trainer.py", "--no-cache", "--output-format", "concise", cwd=root)
    lines = [ln for ln in stdout.splitlines() if "FRZ" in ln]
    assert code == 1 and len(lines) == 1, stdout  # `self.model.scale` is a Parameter: right as written
    assert "trainers/trainer.py:11:" in lines[0] and "FRZ001" in lines[0]
    assert "`self.model.outc.requires_grad_(False)`" in lines[0]


def test_the_fixed_trainer_is_clean(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "False")
    trainer = root / "trainers" / "trainer.py"
    trainer.write_text(trainer.read_text().replace("self.model.outc.requires_grad = False",
                                                   "self.model.outc.requires_grad_(False)"))
    code, stdout, _ = run_cli("check", "trainers/trainer.py", "--no-cache", "--output-format", "concise", cwd=root)
    assert code == 0 and "FRZ" not in stdout, stdout


CLIP_MODEL = """
import torch.nn as nn
from transformers.models.clip.modeling_clip import CLIPPreTrainedModel


class TinyCLIPModel(CLIPPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.visual_projection = nn.Linear(8, 4, bias=False)
"""
CLIP_TRAIN = """
from mymodels.clip import TinyCLIPModel


class Module:
    def __init__(self, path, freeze_image_tower):
        self.model = TinyCLIPModel.from_pretrained(path)
        if freeze_image_tower:
            self.model.visual_projection.requires_grad = False
"""


def test_project_subclass_of_a_library_model_loaded_with_from_pretrained(run_cli, tmp_path):
    root = tmp_path / "proj"
    (root / "mymodels").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "mymodels" / "__init__.py").write_text("")
    (root / "mymodels" / "clip.py").write_text(textwrap.dedent(CLIP_MODEL))
    (root / "train.py").write_text(textwrap.dedent(CLIP_TRAIN))
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    assert code == 1 and "train.py:9:" in stdout and "FRZ001" in stdout, stdout
