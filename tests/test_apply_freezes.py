"""`model.apply(fn)`: what `fn` does to its module lands on every module below `model` (flow_calls._apply),
and which modules `fn` acts on is read from its tests (module_filters.selection)."""

import ast
import textwrap

from freezelint.static.run import engine
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.parse.astutil import SourceText
from freezelint.static.flow.module_filters import Selection, selection


def _selection(src, guard_line):
    text = textwrap.dedent(src)
    tree = ast.parse(text)
    facts = FileFacts(tree, SourceText(text), engine.ProjectIndex.build([engine.summarize_text(text)]), "")
    fdef = tree.body[-1]
    tests = [n.test for n in ast.walk(fdef) if isinstance(n, ast.If) and n.lineno <= guard_line]
    return selection(facts, fdef, tuple(tests))


def test_selection_reads_class_name_tests_and_isinstance():
    by_name = """
    def f(m):
        classname = m.__class__.__name__
        for ntl in ['EfficientNet', 'BiFPN']:
            if ntl in classname:
                m.requires_grad_(False)
    """
    assert _selection(by_name, 99) == Selection(False, (), ("EfficientNet", "BiFPN"))
    find = "def f(m):\n    if m.__class__.__name__.find('BatchNorm') != -1 or type(m).__name__ == 'X':\n        m.eval()\n"
    assert _selection(find, 99) == Selection(False, (), ("BatchNorm", "X"))
    inst = "import torch.nn as nn\ndef f(m):\n    if isinstance(m, (nn.BatchNorm2d, nn.Linear)):\n        m.eval()\n"
    assert _selection(inst, 99) == Selection(False, ("torch.nn.BatchNorm2d", "torch.nn.Linear"), ())
    assert _selection("def f(m):\n    m.eval()\n", 0) == Selection(True)
    # a test on something else than the module's class: which modules is unknown
    assert _selection("def f(m):\n    if getattr(m, 'frozen', False):\n        m.eval()\n", 99) is None


MODELS = """
import torch.nn as nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(8, 2)
"""
UTILS = """
import torch.nn as nn


def set_bn_eval(m):
    if isinstance(m, nn.BatchNorm2d):
        m.eval()
"""
TRAIN = """
import torch
import torch.nn as nn
from models import Detector
from utils import set_bn_eval


def freeze_backbone(m):
    if "Backbone" in m.__class__.__name__:
        m.requires_grad_(False)


def main(loader):
    model = Detector()
    model.apply(freeze_backbone)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for epoch in range(3):
        model.train()
        {fix}
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
"""


def _project(root, fix):
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "models.py").write_text(textwrap.dedent(MODELS))
    (root / "utils.py").write_text(textwrap.dedent(UTILS))
    (root / "train.py").write_text(textwrap.dedent(TRAIN.format(fix=fix)))
    return root


def test_frozen_through_apply_with_batchnorm_in_another_file(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "pass")
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    lines = [ln for ln in stdout.splitlines() if "FRZ" in ln]
    assert code == 1 and len(lines) == 1 and "train.py:15:" in lines[0] and "FRZ106" in lines[0], stdout
    assert "class name contains 'Backbone'" in lines[0] and "`model.apply(freeze_backbone)`" in lines[0]


def test_apply_of_another_files_bn_eval_after_train_is_the_fix(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "model.apply(set_bn_eval)")
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    assert code == 0 and "FRZ" not in stdout, stdout


def test_apply_of_another_files_bn_eval_before_the_loop_is_undone(run_cli, tmp_path):
    root = _project(tmp_path / "proj", "pass")
    train = root / "train.py"
    train.write_text(train.read_text().replace("model.apply(freeze_backbone)", "model.apply(freeze_backbone)\n    model.apply(set_bn_eval)"))
    code, stdout, _ = run_cli("check", "train.py", "--no-cache", "--output-format", "concise", cwd=root)
    lines = [ln for ln in stdout.splitlines() if "FRZ" in ln]
    assert code == 1 and len(lines) == 1 and "FRZ102" in lines[0] and "train.py:19:" in lines[0], stdout
