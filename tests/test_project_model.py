"""The project model: a Module class, a factory and a freeze helper, each in another file of the project.

Linting one file (as pre-commit does) must see what the others define.
"""

import textwrap

import pytest

MODELS = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.head = nn.Linear(8, 2)
"""
FACTORY = """
from .models import Net


def build(pretrained=True):
    net = Net()
    return net


def describe(cfg):
    return str(cfg)
"""
HELPERS = """
def set_frozen(module, frozen=True):
    for p in module.parameters():
        p.requires_grad = False


def lock(module):
    set_frozen(module)


def log_shapes(module):
    for p in module.parameters():
        print(p.shape)
"""
TRAIN_BUGGY = """
import torch

from pkg.factory import build
from pkg.helpers import lock

model = build()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
lock(model.backbone)

other = build()
other.requires_grad = False
"""
TRAIN_CORRECT = """
import torch

from pkg.factory import build, describe
from pkg.helpers import lock, log_shapes

model = build()
lock(model.backbone)
optimizer = torch.optim.SGD((p for p in model.parameters() if p.requires_grad), lr=0.1)
log_shapes(model.head)

name = describe(1)
name.requires_grad = False
"""


def _project(root, train, marker=True):
    (root / "pkg").mkdir(parents=True)
    if marker:
        (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "pkg" / "__init__.py").write_text("")
    for name, text in (("models.py", MODELS), ("factory.py", FACTORY), ("helpers.py", HELPERS)):
        (root / "pkg" / name).write_text(textwrap.dedent(text))
    (root / "train.py").write_text(textwrap.dedent(train).lstrip())
    return root


def _codes(out):
    return sorted((int(line.split(":")[1]), line.split(" ")[1]) for line in out.splitlines() if ": FRZ" in line)


def test_one_linted_file_sees_the_project(run_cli, tmp_path):
    root = _project(tmp_path / "proj", TRAIN_BUGGY)
    code, out, _ = run_cli("check", "train.py", cwd=root)
    assert code == 1
    # FRZ201 needs `lock` (two calls deep, in another file) to be a freeze;
    # FRZ001 needs `build()` (a factory in another file) to return an nn.Module.
    assert _codes(out) == [(8, "FRZ201"), (11, "FRZ001")]
    assert "in `lock`, called here" in out


def test_correct_look_alikes_across_files_stay_clean(run_cli, tmp_path):
    root = _project(tmp_path / "proj", TRAIN_CORRECT)
    code, out, _ = run_cli("check", "train.py", cwd=root)
    assert (code, _codes(out)) == (0, [])


def test_without_a_project_marker_the_project_is_the_working_directory(run_cli, tmp_path):
    root = _project(tmp_path / "loose", TRAIN_BUGGY, marker=False)
    code, out, _ = run_cli("check", "train.py", cwd=root)
    assert (code, _codes(out)) == (1, [(8, "FRZ201"), (11, "FRZ001")])  # as `check .` finds them
    code, out, _ = run_cli("check", ".", cwd=root)
    assert _codes(out) == [(8, "FRZ201"), (11, "FRZ001")]


def test_without_a_marker_a_file_outside_the_working_directory_brings_its_folder(run_cli, tmp_path):
    root = _project(tmp_path / "loose", TRAIN_BUGGY, marker=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, _ = run_cli("check", str(root / "train.py"), cwd=elsewhere)
    assert (code, _codes(out)) == (1, [(8, "FRZ201"), (11, "FRZ001")])


@pytest.mark.parametrize("runs", [2])
def test_a_warm_run_keeps_the_cross_file_facts(run_cli, tmp_path, monkeypatch, runs):
    from freezelint.static.run.cache import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    root = _project(tmp_path / "proj", TRAIN_BUGGY)
    results = [run_cli("check", "train.py", cwd=root)[1] for _ in range(runs)]
    assert results[0] == results[1]
    assert _codes(results[1]) == [(8, "FRZ201"), (11, "FRZ001")]
    assert (tmp_path / "cache").exists()


def test_src_layout_and_relative_imports_resolve(tmp_path):
    from freezelint.static.semantic.project import ProjectIndex, module_name, summarize

    root = tmp_path
    assert module_name(str(root / "src" / "pkg" / "factory.py"), str(root)) == "pkg.factory"
    assert module_name(str(root / "pkg" / "__init__.py"), str(root)) == "pkg"
    index = ProjectIndex.build(
        [summarize(textwrap.dedent(MODELS)), summarize(textwrap.dedent(FACTORY)), summarize(textwrap.dedent(HELPERS))],
        ["pkg.models", "pkg.factory", "pkg.helpers"],
    )
    assert index.factory_class("pkg.factory.build") == "Net"
    assert index.factory_class("pkg.factory.describe") is None
    assert index.function_effects("pkg.helpers.lock") == ((0, "", "freeze"),)
    assert index.function_effects("pkg.helpers.log_shapes") == ()


def test_a_file_with_no_freeze_word_still_sees_a_helper_that_freezes(run_cli, tmp_path):
    # `lock` is the only hint: the text of train.py has no requires_grad/freeze word at all
    train = "import torch\n\nfrom pkg.factory import build\nfrom pkg.helpers import lock\n\nmodel = build()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\nlock(model.backbone)\n"
    root = _project(tmp_path / "proj", train)
    code, out, _ = run_cli("check", "train.py", cwd=root)
    assert _codes(out) == [(8, "FRZ201")]


LIT_BASE = """
import pytorch_lightning as pl
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])
        self.out = nn.Linear(8, 2)

class Wrapper(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = Net()

class Base(pl.LightningModule):
    def __init__(self, vae):
        super().__init__()
        self.model = Wrapper()
        self.vae = vae.eval()
        self.vae.requires_grad_(False)
{lock}
"""

LIT_CHILD = """
import torch
from pkg.base import Base

class Child(Base):
    def __init__(self, vae):
        super().__init__(vae)
        self.adapter = torch.nn.Linear(8, 8)

    def training_step(self, batch, batch_idx):
        net = self.model.net
        return net(self.adapter(batch)).sum()

    def configure_optimizers(self):
        params = list(self.adapter.parameters()) + list(self.model.net.out.parameters())
        return torch.optim.AdamW(params, lr=1e-4)
"""


@pytest.mark.parametrize("lock, expected", [("", [(15, "FRZ208")]), ("        self.model.requires_grad_(False)", [])])
def test_a_base_class_in_another_file_decides_what_is_frozen(run_cli, tmp_path, lock, expected):
    """FRZ208's class form: the base class (another file) builds `self.model` and freezes `self.vae`;
    the subclass optimizes only a part of `self.model`. Freezing `self.model` in the base silences it."""
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "base.py").write_text(textwrap.dedent(LIT_BASE).replace("{lock}", lock))
    (root / "train.py").write_text(textwrap.dedent(LIT_CHILD).lstrip())
    code, out, _ = run_cli("check", "train.py", "--select", "FRZ208", cwd=root)
    assert _codes(out) == expected, out
    if expected:
        assert "`self.model` gets gradients" in out and "`self.vae`" not in out


METHOD_MODELS = """
import torch.nn as nn

class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3)
        self.body = nn.Linear(8, 8)

    def _freeze_stages(self):
        for p in self.body.parameters():
            p.requires_grad = False

    def freeze_backbone(self):
        self._freeze_stages()

    def describe(self):
        for p in self.body.parameters():
            print(p.requires_grad)

class Unfrozen(Backbone):
    def freeze_backbone(self):
        pass  # overrides the base's: freezes nothing
"""

METHOD_TRAIN = """
import torch
from pkg.models import {cls}

model = {cls}()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model.{method}()
"""


@pytest.mark.parametrize(
    "cls, method, expected",
    [
        ("Backbone", "freeze_backbone", [(6, "FRZ201")]),  # a method of another file, through a self call
        ("Unfrozen", "freeze_backbone", []),  # the subclass's override shadows it
        ("Backbone", "describe", []),  # reads requires_grad, freezes nothing
    ],
)
def test_a_method_of_a_class_in_another_file_applies_its_summary(run_cli, tmp_path, cls, method, expected):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "models.py").write_text(textwrap.dedent(METHOD_MODELS))
    (root / "train.py").write_text(textwrap.dedent(METHOD_TRAIN).lstrip().format(cls=cls, method=method))
    code, out, _ = run_cli("check", "train.py", "--select", "FRZ201", cwd=root)
    assert _codes(out) == expected, out
    if expected:
        assert "`model.body` is frozen (in `freeze_backbone`" in out


def test_a_package_init_resolves_its_relative_imports_inside_the_package():
    # in pkg/__init__.py `from .models import Net` names pkg.models.Net; in pkg/train.py it does too
    from freezelint.static.semantic.project import _Builder
    from freezelint.static.summaries.file_summary import FileSummary

    init, train = FileSummary(), FileSummary()
    init.imports["Net"] = ".models.Net"
    train.imports["Net"] = ".models.Net"
    builder = _Builder([init, FileSummary(), train], ["pkg", "pkg.models", "pkg.train"])
    assert builder.resolve("Net", "pkg", init) == "pkg.models.Net"
    assert builder.resolve("Net", "pkg.train", train) == "pkg.models.Net"
