"""FRZ111 across files: a vision tower's `@torch.no_grad()` forward, a model class of another file that
stores it (through a builder with several returns), and a training script of a third file that sets it
trainable. Each evidence taken away leaves the tower silent."""

import textwrap

import pytest

TOWERS = """
import torch
import torch.nn as nn


class ClipTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 8)
        self.encoder.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images):
        return self.encoder(images)


class SiglipTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 8)

    @torch.no_grad()
    def forward(self, images):
        return self.encoder(images)


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(8, 8)

    @torch.no_grad()
    def forward(self, x):
        return self.net(x)
"""
BUILDER = """
from .towers import ClipTower, SiglipTower


def build_vision_tower(cfg):
    if cfg.name == "clip":
        return ClipTower()
    return SiglipTower()
"""
ARCH = """
import torch.nn as nn

from .builder import build_vision_tower
from .towers import Teacher


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.vision_tower = build_vision_tower(cfg)
        self.teacher = Teacher()
        self.head = nn.Linear(8, 2)
"""
TRAIN = {
    "loop": """
        def train(model, args):
            model.requires_grad_(False)
            for name, param in model.named_parameters():
                if args.tune_vision and "model.vision_tower" in name:
                    param.requires_grad = True
        """,
    "helper": """
        def unlock_vit(vision_tower):
            for p in vision_tower.parameters():
                p.requires_grad = True
        """,
    "method": """
        def train(model):
            model.vision_tower.requires_grad_(True)
        """,
    "below it": """
        def train(model):
            model.vision_tower.encoder.requires_grad_(True)
        """,
    "through a method": """
        def train(model):
            model.vision_tower.get_submodule("encoder").requires_grad_(True)
        """,
    "another tower's path": """
        def train(model):
            for i in range(2):
                model.vision_tower.vision_model.encoder.layers[i].requires_grad_(True)
        """,
    "frozen only": """
        def train(model):
            model.vision_tower.requires_grad_(False)
            for p in model.teacher.parameters():
                p.requires_grad = False
        """,
    "other names": """
        def train(model):
            for name, param in model.named_parameters():
                if "vision_tower" not in name:
                    param.requires_grad = True
            model.head.requires_grad_(True)
        """,
}


def _project(root, train):
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "pkg" / "__init__.py").write_text("")
    for name, text in (("towers.py", TOWERS), ("builder.py", BUILDER), ("arch.py", ARCH)):
        (root / "pkg" / name).write_text(textwrap.dedent(text))
    (root / "train.py").write_text(textwrap.dedent(train).lstrip())
    return root


def _lines(out):
    return sorted(int(line.split(":")[1]) for line in out.splitlines() if ": FRZ111" in line)


@pytest.mark.parametrize("train", ["loop", "helper", "method", "below it", "through a method"])
def test_a_tower_the_training_code_unfreezes(run_cli, tmp_path, train):
    root = _project(tmp_path / "proj", TRAIN[train])
    code, out, _ = run_cli("check", "pkg/towers.py", "--select", "FRZ111", cwd=root)
    # both towers the builder may return; not the teacher nothing sets trainable
    assert (code, _lines(out)) == (1, [12, 22])
    assert "`vision_tower`" in out and "ClipTower.forward" in out


@pytest.mark.parametrize("train", ["frozen only", "other names", "another tower's path"])
def test_a_tower_nothing_unfreezes_stays_silent(run_cli, tmp_path, train):
    # "another tower's path": the unfrozen `vision_tower.vision_model...` does not exist below these towers
    # (their only submodule is `encoder`), so it sets some other class's instances trainable
    root = _project(tmp_path / "proj", TRAIN[train])
    code, out, _ = run_cli("check", "pkg/towers.py", "--select", "FRZ111", cwd=root)
    assert (code, _lines(out)) == (0, [])
