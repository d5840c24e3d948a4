"""What users act on (issue 22): messages name the user's own expressions, code in a message
parses, advised code runs against torch and does what it says, FRZ301's anchor selects the
block on the model the file builds, and a helper known only by its name is no basis for advice
about the whole model's mode."""

import ast
import glob
import os
import re
import textwrap

import pytest

from fixture_markers import options
from static_support import FIXTURES, lint_findings
from freezelint.static.input.torch_target import parse_version

FIXTURE_FILES = sorted(
    p for p in glob.glob(os.path.join(FIXTURES, "**", "*.py"), recursive=True) if not p.endswith(".fixed.py")
)
_NAME = re.compile(r"^[A-Za-z_]\w*(\.\w+)*$|^\d+$")  # a parameter or module name (`encoder.layer.10`), not code
_INTERNAL = re.compile(r"(^|[.\w])\*($|[.\w])|\.\[|\[\*\]")  # flow paths: `model.*`, `model.layers.[0]`


def _parses(code):
    try:
        ast.parse(code)
        return True
    except SyntaxError:
        return False


def is_code_or_name(snippet):
    """A backticked snippet is Python that parses, a fragment of it as messages quote them
    (`with torch.no_grad():`, `@torch.no_grad()`, `.eval()`, `requires_grad=`, an elided
    `for i, ... in x`), or a parameter name."""
    s = snippet.strip()
    if _NAME.match(s) or _parses(s):
        return True
    s = s.replace("...", "_")
    return any(
        _parses(candidate)
        for candidate in (
            s,
            s + "\n    pass",  # a compound statement's header
            s + ":\n    pass",
            s + "\ndef f():\n    pass",  # a decorator
            "x" + s,  # `.eval()`, `.grad`
            "f(" + s + "x)",  # `requires_grad=`
            s + " x",  # `p.requires_grad =`
        )
    )


def test_the_classifier_refuses_internal_syntax():
    assert is_code_or_name("optimizer.add_param_group({'params': block.parameters()})")
    assert is_code_or_name("with torch.no_grad():") and is_code_or_name("encoder.layer.10")
    assert not is_code_or_name("optimizer.add_param_group({'params': model.*.parameters()})")
    assert _INTERNAL.search("model.*") and _INTERNAL.search("model.*.eval()") and _INTERNAL.search("model.layers.[0]")
    assert not _INTERNAL.search("f(*args, **kwargs)") and not _INTERNAL.search("x * 2")


def _fixture_findings(path):
    text = open(path, encoding="utf-8").read()
    opts = options(text)
    torch = parse_version(opts["target-torch-version"]) if "target-torch-version" in opts else None
    return lint_findings(text, opts.get("select", "ALL"), path, torch)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_messages_hold_no_internal_path_syntax_and_their_code_parses(path):
    bad = []
    for f in _fixture_findings(path):
        texts = [f.message] + ([f.fix.message] if f.fix is not None else [])
        for text in texts:
            for snippet in re.findall(r"`([^`]+)`", text):
                if _INTERNAL.search(snippet) or not is_code_or_name(snippet):
                    bad.append((f.line, f.code, snippet))
    assert bad == []


def test_the_issue_cases_are_in_the_fixtures():
    """The loop over `[model.layer3, model.layer4]` names `block` and its list, never `model.*`."""
    path = os.path.join(FIXTURES, "messages_user_expressions.py")
    by_line = {f.line: f.message for f in _fixture_findings(path)}
    loop = next(m for m in by_line.values() if m.startswith("`block`"))
    assert loop.startswith("`block` (`model.layer3`, `model.layer4`) is unfrozen")
    assert "`optimizer.add_param_group({'params': block.parameters()})`" in loop
    assert any(m.startswith("`child` (`model.conv1`, `model.layer1`) is frozen") for m in by_line.values())


# -- FRZ203's advice, run against torch ----------------------------------------------------

MODEL = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Linear(4, 4)
        self.layer3 = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
        self.layer4 = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.layer4(self.layer3(self.conv1(x))))


"""

CASES = {
    "loop over a list of blocks": """
        model = Net()
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for block in [model.layer3, model.layer4]:
            block.requires_grad_(True)
            pass  # IN LOOP
        pass  # AFTER
    """,
    "filtered by name, the head held": """
        model = Net()
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for name, p in model.named_parameters():
            if name.startswith("layer4"):
                p.requires_grad = True
            pass  # IN LOOP
        pass  # AFTER
    """,
    "filtered by name, part of it held": """
        model = Net()
        model.requires_grad_(False)
        model.layer4[1].requires_grad_(True)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for name, p in model.named_parameters():
            if "layer4" in name:
                p.requires_grad = True
            pass  # IN LOOP
        pass  # AFTER
    """,
    "a whole stage, part of it held": """
        model = Net()
        model.requires_grad_(False)
        model.layer4[1].requires_grad_(True)
        optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
        model.layer4.requires_grad_(True)
        pass  # AFTER
    """,
    "a whole stage, none of it held": """
        model = Net()
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
        model.layer4.requires_grad_(True)
        pass  # AFTER
    """,
}


def _advised_program(body):
    src = MODEL + "\ndef main():\n" + textwrap.indent(textwrap.dedent(body), "    ") + "    return model, optimizer\n"
    found = [f for f in lint_findings(src, "FRZ203") if f.code == "FRZ203"]
    assert len(found) == 1, found
    message = found[0].message
    advice = message.split("never change; ", 1)[1]
    code = [s for s in re.findall(r"`([^`]+)`", advice) if "add_param_group" in s or s.startswith("held =")]
    assert code and all(_parses(c) for c in code), message
    where = "# IN LOOP" if advice.startswith("in the loop") else "# AFTER"
    lines = src.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(where))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at: at + 1] = [indent + c for c in code]
    return "\n".join(lines) + "\n", message


@pytest.mark.parametrize("case", sorted(CASES))
def test_frz203_advice_runs_and_adds_exactly_what_was_unfrozen(case):
    torch = pytest.importorskip("torch")
    program, message = _advised_program(CASES[case])
    assert "*" not in message.split("never change", 1)[0]
    scope = {}
    exec(compile(program, "<advised>", "exec"), scope)  # a parameter in two groups raises ValueError
    model, optimizer = scope["main"]()
    held = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(held) == len(set(held))
    assert set(held) == {id(p) for p in model.parameters() if p.requires_grad}
    model(torch.randn(3, 4)).sum().backward()
    before = [p.detach().clone() for p in model.layer4.parameters()]
    optimizer.step()
    assert all(not torch.equal(a, p) for a, p in zip(before, model.layer4.parameters()))


def test_the_old_advice_for_a_filtered_unfreeze_raises():
    """What the message said before (`model.parameters()`) adds the held head twice."""
    pytest.importorskip("torch")
    program, _ = _advised_program(CASES["filtered by name, the head held"])
    old = program.replace("[p for name, p in model.named_parameters() if name.startswith(\"layer4\")]", "model.parameters()")
    assert old != program
    scope = {}
    exec(compile(old, "<old advice>", "exec"), scope)
    with pytest.raises(ValueError, match="more than one parameter group"):
        scope["main"]()


# -- FRZ301: the anchor selects the block on the model the file builds -----------------------

FRZ301_SRC = """
from transformers import {cls}

model = {cls}.from_pretrained("bert-base-uncased")
for name, p in model.named_parameters():
    if "encoder.layer.1" in name:
        p.requires_grad = False
"""


@pytest.mark.parametrize("cls", ["AutoModel", "BertModel", "AutoModelForSequenceClassification", "BertForSequenceClassification"])
def test_frz301_anchor_selects_layer_1_and_only_it(cls):
    transformers = pytest.importorskip("transformers")
    found = [f for f in lint_findings(FRZ301_SRC.format(cls=cls), "FRZ301") if f.code == "FRZ301"]
    assert len(found) == 1
    test = re.findall(r"`([^`]+)`", found[0].message)[-1]
    config = transformers.BertConfig(
        vocab_size=16, hidden_size=8, num_hidden_layers=12, num_attention_heads=2, intermediate_size=8, num_labels=2
    )
    built = getattr(transformers, "BertModel" if "For" not in cls else "BertForSequenceClassification")(config)
    names = [n for n, _ in built.named_parameters()]
    picked = {n for n in names if eval(test, {}, {"name": n})}
    assert picked and all(".layer.1." in "." + n and ".layer.10." not in n for n in picked), test
    assert picked == {n for n in names if n.split("encoder.layer.1.", 1)[0] in ("", "bert.") and "encoder.layer.1." in n}
    if cls in ("AutoModel", "BertModel"):  # the knowledge base says a base model: names start at `encoder.`
        assert test == 'name.startswith("encoder.layer.1.")'


# -- a helper known only by its name --------------------------------------------------------

HELPERS = """
def freeze_named(model, prefixes):
    for name, p in model.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad = False
"""

TRAIN = """
import torch
import torchvision
from helpers import freeze_named

teacher = torchvision.models.resnet50()
teacher.eval()
model = torchvision.models.resnet18()
{freeze}
optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
model.train()
for x in range(3):
    model(x).sum().backward()
    optimizer.step()
"""


def test_a_helper_known_by_its_name_is_no_basis_for_whole_model_mode_advice(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "train.py").write_text(TRAIN.format(freeze='freeze_named(model, ("conv1", "layer1"))'))
    # the control: the same file freezing the whole model itself gets FRZ106's advice
    (tmp_path / "whole.py").write_text(TRAIN.format(freeze="model.requires_grad_(False)"))
    code, out, _ = run_cli("check", "--no-cache", "--select", "FRZ106", "--output-format", "concise", ".", cwd=tmp_path)
    assert "whole.py:9:1: FRZ106 `model` is frozen" in out and "call `model.eval()`" in out
    assert "train.py" not in out
