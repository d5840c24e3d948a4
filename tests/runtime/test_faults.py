"""Faults inside the audited step: the step raising midway, Ctrl-C during the
step, an optimizer whose `step` raises half-way through its parameters. With
restore=True the model, optimizer and grads come back bit-identical, every
hook is removed, and the original exception propagates."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import F, Net, make_batch, make_step  # noqa: E402
from freezelint.runtime import FreezeAudit, audit_step  # noqa: E402
from test_restore import OPTS, assert_identical, capture, mistake_setup  # noqa: E402


def hook_counts(model, opt):
    return (
        len(opt._optimizer_step_pre_hooks),
        len(opt._optimizer_step_post_hooks),
        sum(len(m._forward_pre_hooks) + len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules()),
        sum(len(getattr(p, "_post_accumulate_grad_hooks", None) or {}) for p in model.parameters()),
        sum(len(getattr(p, "_backward_hooks", None) or {}) for p in model.parameters()),
    )


class HalfwaySGD(torch.optim.SGD):
    """Updates the first parameter group, then fails (e.g. a NaN guard or an OOM in the second)."""

    def step(self, closure=None):
        groups = self.param_groups
        self.param_groups = groups[:1]
        try:
            super().step(closure)
        finally:
            self.param_groups = groups
        raise RuntimeError("CUDA out of memory (simulated) in group 2")


def _interrupt_after_backward(model, opt, x, y):
    def step():
        model.train()
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        raise KeyboardInterrupt  # Ctrl-C after the update, before the step returns

    return step


@pytest.mark.parametrize("make_opt", OPTS, ids=["sgd", "adamw"])
@pytest.mark.parametrize(
    "fault, exc_type",
    [
        ("raise_after_backward", ValueError),
        ("raise_after_step", ValueError),
        ("keyboard_interrupt", KeyboardInterrupt),
        ("keyboard_interrupt_in_backward", KeyboardInterrupt),
    ],
)
def test_step_fault_restores_bit_identical_and_removes_hooks(make_opt, fault, exc_type):
    model, opt, _ = mistake_setup(make_opt)
    x, y = make_batch(seed=7)
    before = capture(model, opt)
    hooks = hook_counts(model, opt)

    def step():
        model.train()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        if fault == "keyboard_interrupt_in_backward":
            model.head.weight.register_hook(lambda g: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                loss.backward()
            finally:
                model.head.weight._backward_hooks = None  # the user's own hook, not ours
            return
        loss.backward()
        if fault == "raise_after_backward":
            raise ValueError("loss is NaN")
        opt.step()
        if fault == "raise_after_step":
            raise ValueError("logging failed")
        raise KeyboardInterrupt

    with pytest.raises(exc_type):
        audit_step(model, opt, step, frozen=["backbone"], restore=True)
    assert_identical(before, capture(model, opt))
    assert hook_counts(model, opt) == hooks
    # the model still trains normally afterwards
    make_step(model, opt, (x, y))()


def test_keyboard_interrupt_in_context_manager_form():
    model, opt, _ = mistake_setup(OPTS[1])
    x, y = make_batch(seed=8)
    before = capture(model, opt)
    hooks = hook_counts(model, opt)
    audit = FreezeAudit(model, opt, frozen=["backbone"], restore=True)
    with pytest.raises(KeyboardInterrupt):
        with audit:
            _interrupt_after_backward(model, opt, x, y)()
    assert audit.report is not None  # a report exists for what ran
    assert_identical(before, capture(model, opt))
    assert hook_counts(model, opt) == hooks


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_optimizer_step_that_raises_halfway(momentum):
    model = Net(bn=True)
    opt = HalfwaySGD(
        [{"params": model.backbone.parameters()}, {"params": model.head.parameters(), "lr": 0.5}],
        lr=0.1,
        momentum=momentum,
    )
    x, y = make_batch(seed=9)
    try:
        make_step(model, opt, (x, y))()  # momentum buffers for group 1 exist
    except RuntimeError:
        pass
    before = capture(model, opt)
    hooks = hook_counts(model, opt)
    with pytest.raises(RuntimeError, match="simulated") as info:
        audit_step(model, opt, make_step(model, opt, (x, y)), restore=True)
    assert info.value.freeze_audit_report is not None
    assert_identical(before, capture(model, opt))
    assert hook_counts(model, opt) == hooks


def test_restore_false_keeps_what_ran_but_still_removes_hooks():
    model, opt, _ = mistake_setup(OPTS[0])
    x, y = make_batch(seed=7)
    before = capture(model, opt)
    hooks = hook_counts(model, opt)
    with pytest.raises(KeyboardInterrupt):
        audit_step(model, opt, _interrupt_after_backward(model, opt, x, y), restore=False)
    after = capture(model, opt)
    assert not torch.equal(before["params"]["head.weight"], after["params"]["head.weight"])
    assert hook_counts(model, opt) == hooks


def test_fault_in_forward_before_any_grad():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    make_step(model, opt, (torch.randn(4, 3), torch.tensor([0, 1, 0, 1])))()
    before = capture(model, opt)
    hooks = hook_counts(model, opt)

    def step():
        model(torch.randn(4, 5))  # shape mismatch inside forward

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        audit_step(model, opt, step, restore=True)
    assert_identical(before, capture(model, opt))
    assert hook_counts(model, opt) == hooks
