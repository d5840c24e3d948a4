"""FRZ201 says the optimizer "can move" frozen parameters only when a gradient can reach them (issue 15 item 6)."""

from static_support import lint_findings

_HEAD = """\
import torch
def train(model, loader):
    opt = torch.optim.AdamW(model.parameters(), weight_decay=0.1)
"""


def _frz201(body, torch_version=None):
    found = [f for f in lint_findings(_HEAD + body, "FRZ201", torch_version=torch_version)]
    assert len(found) == 1
    return found[0]


def test_freeze_before_first_backward_with_default_zero_grad_is_a_warning_that_says_they_do_not_move():
    f = _frz201(
        "    model.stem.requires_grad_(False)\n"
        "    for x in loader:\n"
        "        model(x).sum().backward()\n"
        "        opt.step()\n"
        "        opt.zero_grad()\n"
    )
    assert f.severity.value == "warning"
    assert "can move" not in f.message and "do not move" in f.message and "groups" in f.message


def test_set_to_none_false_after_gradients_can_move_them():
    f = _frz201(
        "    for epoch in range(3):\n"
        "        if epoch == 1:\n"
        "            model.stem.requires_grad_(False)\n"
        "        for x in loader:\n"
        "            model(x).sum().backward()\n"
        "            opt.step()\n"
        "            opt.zero_grad(set_to_none=False)\n"
    )
    assert f.severity.value == "error" and "can move" in f.message and "set_to_none=False" in f.message


def test_stale_grads_from_an_earlier_backward_can_move_them():
    f = _frz201(
        "    model(loader[0]).sum().backward()\n"
        "    model.stem.requires_grad_(False)\n"
        "    opt.step()\n"
    )
    assert f.severity.value == "error" and "between `backward()` and `step()`" in f.message


def test_zero_grad_between_backward_and_freeze_clears_them():
    f = _frz201(
        "    model(loader[0]).sum().backward()\n"
        "    opt.zero_grad()\n"
        "    model.stem.requires_grad_(False)\n"
        "    opt.step()\n"
    )
    assert f.severity.value == "warning"


def test_a_freeze_between_steps_of_the_loop_is_frz209s_alone():
    text = _HEAD + (
        "    for step, x in enumerate(loader):\n"
        "        opt.zero_grad()\n"
        "        model(x).sum().backward()\n"
        "        if step == 5:\n"
        "            model.stem.requires_grad_(False)\n"
        "        opt.step()\n"
    )
    assert [f.code for f in lint_findings(text, "FRZ201,FRZ209")] == ["FRZ209"]
    cleared = text.replace("requires_grad_(False)\n", "requires_grad_(False)\n            model.stem.weight.grad = None\n")
    held = lint_findings(cleared, "FRZ201,FRZ209")
    assert [(f.code, f.severity.value) for f in held] == [("FRZ201", "warning")]  # cleared: held, not moved
