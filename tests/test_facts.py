"""The facts layer: is this expression an nn.Module, a tensor, or unknown?"""

import ast

import pytest

from freezelint.static.parse.astutil import SourceText
from freezelint.static.rules.context import FileContext, RuleRunner
from freezelint.static.run.engine import summarize_text
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.semantic.project import ProjectIndex
from freezelint.static.parse.walk import walk

class _Probe:
    """Records the kind of every `probe(<expr>)` argument, with loop/isinstance context."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.kinds = []

    def on_visit(self, node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "probe":
            self.kinds.append(self.ctx.kind_of(node.args[0]).tag)

    def on_leave(self, node):
        pass


def kinds(source, *others):
    project = ProjectIndex.build(summarize_text(t) for t in (source,) + others)
    module = ast.parse(source)
    text = SourceText(source)
    ctx = FileContext("t.py", module, FileFacts(module, text, project), text)
    runner = RuleRunner(ctx, [])
    probe = _Probe(ctx)
    walk(module, [runner, probe])
    return probe.kinds


HEADER = "import torch\nimport torch.nn as nn\n"


@pytest.mark.parametrize(
    "body, expected",
    [
        ("m = nn.Linear(2, 2)\nprobe(m)", ["module"]),
        ("from torch.nn import Conv2d as C\nm = C(1, 1, 1)\nprobe(m)", ["module"]),
        ("m = nn.Sequential(nn.Linear(2, 2))\nprobe(m[0])\nprobe(m[1:])", ["module", "container"]),
        ("m = nn.Linear(2, 2)\nprobe(m.weight)\nprobe(m.to('cpu'))", ["tensor", "module"]),
        ("m = nn.Linear(2, 2)\nfor p in m.parameters():\n    probe(p)", ["tensor"]),
        ("m = nn.Linear(2, 2)\nfor name, c in m.named_modules():\n    probe(c)\n    probe(name)", ["module", "other"]),
        ("p = nn.Parameter(torch.zeros(1))\nprobe(p)", ["tensor"]),
        ("x = torch.randn(3)\nprobe(x * 2)\nprobe(x.detach())", ["tensor", "tensor"]),
        ("x = make()\nprobe(x)", ["unknown"]),
        ("x = nn.Linear(1, 1)\nprobe(x)\nx = torch.zeros(1)\nprobe(x)", ["module", "tensor"]),  # flow-sensitive
        ("if c:\n    x = nn.Linear(1, 1)\nelse:\n    x = torch.zeros(1)\nprobe(x)", ["unknown"]),  # conflicting evidence
        ("def f(m: nn.Module):\n    probe(m)", ["module"]),
        ("def f(m):\n    probe(m)\nf(nn.Linear(1, 1))\nf(nn.ReLU())", ["module"]),
        ("def f(m):\n    probe(m)\nf(nn.Linear(1, 1))\nf(torch.zeros(1))", ["unknown"]),
        ("def f(m):\n    if isinstance(m, nn.BatchNorm2d):\n        probe(m)\n    probe(m)", ["module", "unknown"]),
        ("sd = nn.Linear(1, 1).state_dict()\nprobe(sd['weight'])\nfor k, v in sd.items():\n    probe(v)", ["sd_value", "sd_value"]),
        ("sd = nn.Linear(1, 1).state_dict(keep_vars=True)\nprobe(sd)", ["unknown"]),
        ("import timm\nm = timm.create_model('resnet18')\nprobe(m)\nprobe(m.fc)\nprobe(m.fc.weight)", ["module", "module", "tensor"]),
        ("from transformers import AutoModel, AutoTokenizer\nprobe(AutoModel.from_pretrained('x'))\nprobe(AutoTokenizer.from_pretrained('x'))", ["module", "unknown"]),
        ("import copy\nm = nn.Linear(1, 1)\nprobe(copy.deepcopy(m))", ["module"]),
        ("opt = torch.optim.SGD([], lr=0.1)\nprobe(opt)", ["optimizer"]),
        # a loop variable is what its own loop yields, whatever other loops bind to the name
        ("m = nn.Linear(1, 1)\nfor x in m.parameters():\n    probe(x)\nfor x in m.modules():\n    probe(x)", ["tensor", "module"]),
    ],
)
def test_kinds(body, expected):
    assert kinds(HEADER + body) == expected


def test_project_classes_across_files():
    models = HEADER + "class Base(nn.Module):\n    pass\n\nclass Net(Base):\n    pass\n\nclass Config:\n    pass\n"
    train = "from models import Net, Config\nprobe(Net())\nprobe(Config())\n"
    assert kinds(train, models) == ["module", "unknown"]
    assert kinds(train) == ["unknown", "unknown"]  # without the other file there is no evidence


def test_self_and_its_submodules():
    src = HEADER + (
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.body = nn.Linear(1, 1)\n"
        "        self.scale = nn.Parameter(torch.ones(1))\n"
        "        self.name = 'net'\n"
        "    def f(self):\n"
        "        probe(self)\n        probe(self.body)\n        probe(self.scale)\n        probe(self.name)\n"
        "class Plain:\n"
        "    def f(self):\n"
        "        probe(self)\n"
    )
    assert kinds(src) == ["module", "module", "tensor", "other", "other"]


def test_ambiguous_class_names_are_not_trusted():
    a = HEADER + "class Block(nn.Module):\n    pass\n"
    b = "class Block:\n    pass\n"
    assert kinds("from x import Block\nprobe(Block())\n", a, b) == ["unknown"]


def test_factory_in_another_file_returns_a_module():
    models = HEADER + "class Net(nn.Module):\n    pass\n"
    factory = "from models import Net\n\ndef build(cfg):\n    net = Net()\n    return net\n\ndef build_twice(cfg):\n    return build(cfg)\n\ndef name(cfg):\n    return str(cfg)\n"
    train = "from factory import build, build_twice, name\nprobe(build(1))\nprobe(build_twice(1))\nprobe(name(1))\n"
    assert kinds(train, models, factory) == ["module", "module", "unknown"]


def test_factory_returning_a_torch_module():
    src = HEADER + "def head(n):\n    return nn.Linear(n, 2)\nprobe(head(3))\n"
    assert kinds(src) == ["module"]
