"""FRZ106 counts a freeze made through a helper of another file whose summary says it freezes its argument
(`freeze_net_layers(net.base_net)`), not one known by its name alone."""

import textwrap

MODELS = """
import torch.nn as nn


class SSD(nn.Module):
    def __init__(self):
        super().__init__()
        self.base_net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Conv2d(16, 4, 1)
"""
UTILS = """
def freeze_net_layers(net):
    for param in net.parameters():
        param.requires_grad = False
"""
TRAIN = """
import torch
import torch.nn as nn
from models import SSD
from utils import freeze_net_layers


def main(loader):
    net = SSD()
    freeze_net_layers(net.base_net)
    optimizer = torch.optim.SGD(net.head.parameters(), lr=0.1)
    for epoch in range(10):
        net.train(True)
        {fix}
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.mse_loss(net.head(net.base_net(x)), y).backward()
            optimizer.step()


def evaluate(net, loader):
    net.eval()
    return [net(x) for x in loader]
"""


def _project(root, fix, helper=UTILS):
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "models.py").write_text(textwrap.dedent(MODELS))
    (root / "utils.py").write_text(textwrap.dedent(helper))
    (root / "train.py").write_text(textwrap.dedent(TRAIN.format(fix=fix)))
    return root


def test_a_helper_of_another_file_freezing_a_batchnorm_stage(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "pass")
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    lines = [ln for ln in stdout.splitlines() if "FRZ" in ln]
    assert code == 1 and len(lines) == 1 and "train.py:10:" in lines[0] and "FRZ106" in lines[0], stdout
    assert "`net.base_net` is frozen but nothing puts it in eval mode" in lines[0]


def test_put_back_in_eval_mode_after_train(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "net.base_net.eval()")
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    assert code == 0 and "FRZ" not in stdout, stdout


def test_a_helper_that_freezes_nothing_is_not_a_freeze(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "pass", helper="def freeze_net_layers(net):\n    print(net)\n")
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    assert "FRZ106" not in stdout, stdout


def test_holds_batchnorm_of_an_attribute_through_a_cycle_of_bases():
    from freezelint.static.run import engine
    from freezelint.static.semantic.project import ProjectIndex

    # `class BertModel(BertModel)` after an import: the short names make the bases a cycle
    src = "import torch.nn as nn\nclass A(B):\n    pass\nclass B(A):\n    def __init__(self):\n        self.bn = nn.BatchNorm2d(3)\n"
    table = ProjectIndex.build([engine.summarize_text(src)], ["m"]).class_table
    assert table.holds_batchnorm("A", "bn") is True and table.holds_batchnorm("A", "head") is None
