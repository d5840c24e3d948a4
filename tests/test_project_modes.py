"""Class facts about modes across files: "holds a live BatchNorm" and "train() keeps a mode"."""

import ast
import textwrap

from freezelint.static.semantic.project import ProjectIndex, summarize
from freezelint.static.summaries.file_summary import FileSummary
from freezelint.static.summaries.modes import batchnorm_attrs, train_passthrough

BLOCKS = """
import torch.nn as nn
from torchvision.ops import FrozenBatchNorm2d


class ConvBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3)
        self.bn = nn.BatchNorm2d(c)


class FrozenConvBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3)
        self.bn = FrozenBatchNorm2d(c)


class Base(nn.Module):
    def train(self, mode=True):
        \"\"\"Only the base behaviour.\"\"\"
        super().train(mode)
        return self


class KeepsEval(nn.Module):
    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        return self
"""
NETS = """
import torch.nn as nn
from .blocks import Base, ConvBN, FrozenConvBN, KeepsEval
from somewhere_unknown import Mystery


class Net(Base):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3)
        self.frozen_stem = FrozenConvBN(3)
        self.head = nn.Linear(8, 2)


class Staged(KeepsEval):
    pass


class Odd(Mystery):
    pass
"""


def _index():
    return ProjectIndex.build([summarize(BLOCKS), summarize(NETS)], ["pkg.blocks", "pkg.nets"], None)


def _cls(src):
    return ast.parse(textwrap.dedent(src)).body[-1]


def test_batchnorm_is_known_across_files_and_frozen_batchnorm_is_not_live():
    index = _index()
    assert index.holds_batchnorm("pkg.nets.Net", "stem") is True
    assert index.holds_batchnorm("pkg.nets.Net") is True
    assert index.holds_batchnorm("pkg.nets.Net", "frozen_stem") is not True
    assert index.holds_batchnorm("pkg.blocks.FrozenConvBN") is not True
    assert index.holds_batchnorm("pkg.nets.Net", "head") is False


def test_train_override_follows_bases_across_files():
    index = _index()
    assert index.train_keeps_modes("pkg.nets.Net") is False  # Base.train only calls super().train
    assert index.train_keeps_modes("pkg.nets.Staged") is True
    assert index.train_keeps_modes("pkg.nets.Odd") is None  # a base nobody knows


def test_norm_configs_and_builder_methods_count_as_batchnorm():
    cls = _cls(
        """
        class Backbone(BaseModule):
            def __init__(self, norm_cfg=dict(type="BN"), norm_layer=None):
                super().__init__()
                self.norm_cfg = norm_cfg
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                self.conv1 = ConvModule(3, 8, 3, norm_cfg=self.norm_cfg)
                self.stem = Stem(norm_layer=norm_layer)
                self.layer1 = self._make_layer(8)
                self.ln = nn.LayerNorm(8)
                self.gn = ConvModule(3, 8, 3, norm_cfg=dict(type="GN", num_groups=2))

            def _make_layer(self, c):
                return nn.Sequential(nn.Conv2d(c, c, 1), nn.SyncBatchNorm(c))
        """
    )
    assert batchnorm_attrs(cls) == ["conv1", "stem", "layer1"]


def test_train_passthrough():
    assert train_passthrough(_cls("class A:\n    def train(self, mode=True):\n        return super().train(mode)\n"))
    assert not train_passthrough(_cls("class A:\n    def train(self, mode=True):\n        super().train(mode)\n        self.bn.eval()\n"))
    assert not train_passthrough(_cls("class A:\n    def forward(self, x):\n        return x\n"))


def test_json_round_trip_carries_mode_facts_and_reads_older_entries():
    s = summarize(BLOCKS + NETS)
    back = FileSummary.from_json(s.to_json())
    assert back.class_info["ConvBN"].batchnorm_attrs == ["bn"]
    assert back.class_info["Base"].train_passthrough is True
    assert back.class_info == s.class_info
    old = {"c": {"A": [["nn.Module"], {}, 0, 1]}}
    assert FileSummary.from_json(old).class_info["A"].train_passthrough is False


BACKBONE = """
import torch.nn as nn
from .blocks import Base, ConvBN


class Backbone(Base):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3)
        self.stage1 = ConvBN(3)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(3, 2)
        self._freeze_stages()

    def _freeze_stages(self):
        for p in self.stem.parameters():
            p.requires_grad = False
        self.stage1.eval()
        self.stage1.requires_grad_(False)
        self.drop.eval()
"""
BACKBONE_KEPT = BACKBONE.replace("Base, ConvBN", "KeepsEval, ConvBN").replace("(Base)", "(KeepsEval)")


def _lint_project(run_cli, root, backbone):
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "blocks.py").write_text(BLOCKS)
    (root / "pkg" / "backbone.py").write_text(backbone)
    code, out, _ = run_cli("check", "pkg/backbone.py", "--select", "FRZ106,FRZ107", cwd=root)
    return sorted((int(line.split(":")[1]), line.split(" ")[1]) for line in out.splitlines() if ": FRZ" in line)


def test_rules_see_batchnorm_and_train_overrides_in_other_files(run_cli, tmp_path):
    # ConvBN (BatchNorm inside) and Base (a train() that only calls super) live in blocks.py
    assert _lint_project(run_cli, tmp_path / "a", BACKBONE) == [(17, "FRZ106"), (18, "FRZ107")]
    # KeepsEval.train() (another file) re-applies the freeze: FRZ107 is silent; the stem is still never eval'd
    assert _lint_project(run_cli, tmp_path / "b", BACKBONE_KEPT) == [(17, "FRZ106")]
