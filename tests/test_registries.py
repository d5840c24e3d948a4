"""A network built from a config through a registry (`BACKBONES.build(cfg)`, `build_backbone(cfg)` returning it)
is an nn.Module when every project class registered to that registry is one (semantic/registries.py)."""

import textwrap

import pytest

BUILDER = """
from mmlib.utils import Registry

MODELS = Registry("models")
BACKBONES = MODELS
HEADS = MODELS


def build_backbone(cfg):
    return BACKBONES.build(cfg)
"""
BACKBONES = """
import torch.nn as nn
from ..builder import BACKBONES


@BACKBONES.register_module()
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)


@BACKBONES.register_module
class WideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
"""
HEADS = """
from ..builder import HEADS


@HEADS.register_module()
class {name}{base}:
    def __init__(self):
        pass
"""
DETECTOR = """
import torch.nn as nn
from .. import builder


class Detector(nn.Module):
    def __init__(self, backbone, freeze_backbone=False):
        super().__init__()
        self.backbone = builder.build_backbone(backbone)
        self.freeze_backbone = freeze_backbone

    def forward_train(self, img):
        if self.freeze_backbone:
            self.backbone.requires_grad = False
        return self.backbone(img)
"""


def _project(tmp_path, head):
    root = tmp_path / "proj"
    (root / "pkg" / "models" / "backbones").mkdir(parents=True)
    (root / "pkg" / "models" / "detectors").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    files = {
        "pkg/__init__.py": "", "pkg/models/__init__.py": "", "pkg/models/builder.py": BUILDER,
        "pkg/models/backbones/__init__.py": "", "pkg/models/backbones/nets.py": BACKBONES,
        "pkg/models/backbones/heads.py": head, "pkg/models/detectors/__init__.py": "",
        "pkg/models/detectors/detector.py": DETECTOR,
    }
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def _findings(run_cli, root):
    code, stdout, _ = run_cli("check", ".", "--no-cache", "--output-format", "concise", cwd=root)
    return [ln.lstrip("./") for ln in stdout.splitlines() if ": FRZ" in ln]


def test_a_backbone_built_through_a_registry_of_modules(run_cli, tmp_path):
    root = _project(tmp_path, HEADS.format(name="LinearHead", base="(nn.Module)").replace("from ..builder", "import torch.nn as nn\nfrom ..builder"))
    lines = _findings(run_cli, root)
    assert len(lines) == 1 and lines[0].startswith("pkg/models/detectors/detector.py:14:") and "FRZ001" in lines[0], lines


@pytest.mark.parametrize("name, base", [("Pipeline", ""), ("Loader", "(object)")])
def test_a_registry_holding_something_else_tells_nothing(run_cli, tmp_path, name, base):
    root = _project(tmp_path, HEADS.format(name=name, base=base))  # registered to HEADS, an alias of MODELS
    assert _findings(run_cli, root) == []


def test_one_registered_class_is_not_enough():
    from freezelint.static.semantic.project import ProjectIndex, summarize

    one = "import torch.nn as nn\nfrom builder import MODELS\n\n@MODELS.register_module()\nclass A(nn.Module):\n    pass\n"
    two = one + "\n\n@MODELS.register_module()\nclass B(nn.Module):\n    pass\n"
    builder = "MODELS = Registry('m')\n\ndef build(cfg):\n    return MODELS.build(cfg)\n"
    for text, expected in ((one, None), (two, "")):
        index = ProjectIndex.build([summarize(builder), summarize(text)], ["builder", "nets"])
        assert index.factory_class("builder.build") == expected
