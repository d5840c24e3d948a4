"""Advice names a module as the code names it (issue 22): flow leaves out DDP's `.module` and
compile's `._orig_mod`, but a wrapper has no `layer4` of its own, so after `model = DDP(model)`
the Python that runs is `model.module.layer4`. (compile's wrapper forwards attribute reads to the
model, so `model.layer4` would run there too; the advice still says what the code says.) Each
advised line is run against torch: DDP on the CPU (gloo, one process), compile's wrapper built
but never called (nothing is compiled)."""

from __future__ import annotations

import re
import textwrap

import pytest

from static_support import lint_findings
from freezelint.static.fix.fixer import fix_text

torch = pytest.importorskip("torch")

MODEL = """
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Linear(4, 4)
        self.layer4 = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.layer4(self.conv1(x)))


"""


@pytest.fixture(scope="module")
def process_group(tmp_path_factory):
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    store = tmp_path_factory.mktemp("gloo") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


FRZ203_CASES = {
    "DDP, the stage unfrozen through .module, none of it held": """
        model = Net()
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        model = DDP(model)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        model.module.layer4.requires_grad_(True)
        pass  # AFTER
    """,
    "DDP, part of the stage held": """
        model = Net()
        model.requires_grad_(False)
        model.layer4[1].requires_grad_(True)
        model = DDP(model)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        model.module.layer4.requires_grad_(True)
        pass  # AFTER
    """,
    "compile, a loop over the stage's parameters through ._orig_mod": """
        model = Net()
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        model = torch.compile(model)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for p in model._orig_mod.layer4.parameters():
            p.requires_grad = True
        pass  # AFTER
    """,
}


def _program(body: str) -> str:
    return MODEL + "\ndef main():\n" + textwrap.indent(textwrap.dedent(body), "    ") + "    return model, optimizer\n"


def _advised(src: str):
    found = [f for f in lint_findings(src, "FRZ203") if f.code == "FRZ203"]
    assert len(found) == 1, found
    message = found[0].message
    advice = message.split("never change; ", 1)[1]
    code = [s for s in re.findall(r"`([^`]+)`", advice) if "add_param_group" in s or s.startswith("held =")]
    assert code, message
    lines = src.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("# AFTER"))
    lines[at: at + 1] = ["    " + c for c in code]
    return "\n".join(lines) + "\n", message


def _run(program: str):
    scope = {}
    exec(compile(program, "<advised>", "exec"), scope)
    model, optimizer = scope["main"]()
    held = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(held) == len(set(held))  # torch refuses a parameter in two groups anyway
    assert set(held) == {id(p) for p in model.parameters() if p.requires_grad}
    inner = getattr(model, "module", None) or model._orig_mod
    assert {id(p) for p in inner.layer4.parameters()} <= set(held)
    return model


@pytest.mark.parametrize("case", sorted(FRZ203_CASES))
def test_frz203_advice_names_the_wrapped_module_as_written_and_runs(case, process_group):
    program, message = _advised(_program(FRZ203_CASES[case]))
    own = "model._orig_mod.layer4" if "compile" in case else "model.module.layer4"
    assert message.startswith(f"`{own}` is unfrozen") and f"{own}.parameters()" in message
    model = _run(program)
    if "DDP" in case:
        with pytest.raises(AttributeError):  # what the advice said before: DDP has no `layer4`
            model.layer4


def test_frz203_fix_adds_the_wrapped_module_as_written(process_group):
    src = _program(FRZ203_CASES["DDP, the stage unfrozen through .module, none of it held"])
    fixed = fix_text("t.py", src, lambda t: lint_findings(t, "FRZ203"), True).text
    assert 'optimizer.add_param_group({"params": [p for p in model.module.layer4.parameters() if p.requires_grad]})' in fixed
    _run(fixed)


FRZ208_SRC = MODEL + """
def train(loader):
    model = Net()
    model = {wrap}
    optimizer = torch.optim.AdamW({own}.parameters(), lr=1e-3)
    for x, y in loader:
        loss = model(x).sum()
        loss.backward()
        optimizer.step()
"""


@pytest.mark.parametrize("wrap, own", [("DDP(model)", "model.module.fc"), ("torch.compile(model)", "model._orig_mod.fc")])
def test_frz208_names_the_optimized_part_as_written_and_its_freeze_runs(wrap, own, process_group):
    found = [f for f in lint_findings(FRZ208_SRC.format(wrap=wrap, own=own), "FRZ208") if f.code == "FRZ208"]
    assert len(found) == 1, found
    message = found[0].message
    assert f"cover only `{own}` of `model`" in message
    freeze = re.search(r"freeze it \(`([^`]+)`, then unfreeze `([^`]+)`\)", message)
    assert freeze and freeze.group(2) == own
    scope = {}
    exec(compile(MODEL, "<model>", "exec"), scope)
    model = eval(wrap.replace("model)", "scope['Net']())"), {"scope": scope, "DDP": scope["DDP"], "torch": torch})
    exec(f"{freeze.group(1)}\n{freeze.group(2)}.requires_grad_(True)", {"model": model})
    inner = getattr(model, "module", None) or model._orig_mod
    assert {id(p) for p in model.parameters() if p.requires_grad} == {id(p) for p in inner.fc.parameters()}
    if wrap.startswith("DDP"):
        with pytest.raises(AttributeError):
            model.fc  # what the message named before
