"""restore=True leaves model, optimizer, grads, modes and RNG bit-identical."""

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import F, Net, make_batch, make_step, trainable  # noqa: E402
from freezelint.runtime import FreezeAudit, audit_step  # noqa: E402


def bits(t):
    t = t.detach()
    return t.reshape(-1).contiguous().view(torch.uint8).clone()


def capture(model, opt):
    """Everything restore must bring back, as raw bytes."""
    state = {
        "params": {n: bits(p) for n, p in model.named_parameters()},
        "param_ids": {n: id(p) for n, p in model.named_parameters()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "grads": {n: None if p.grad is None else bits(p.grad) for n, p in model.named_parameters()},
        "buffers": {n: bits(b) for n, b in model.named_buffers()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "rng": torch.get_rng_state().clone(),
    }
    sd = opt.state_dict()
    state["opt_groups"] = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    state["opt_state"] = {
        k: {kk: bits(vv) if isinstance(vv, torch.Tensor) else vv for kk, vv in v.items()} for k, v in sd["state"].items()
    }
    state["opt_state_ids"] = {id(p): {k: id(v) for k, v in s.items()} for p, s in opt.state.items()}
    return state


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key == "rng":
            assert torch.equal(a[key], b[key])
        elif key in ("params", "buffers", "grads"):
            assert a[key].keys() == b[key].keys(), key
            for n in a[key]:
                x, y = a[key][n], b[key][n]
                assert (x is None) == (y is None), (key, n)
                if x is not None:
                    assert torch.equal(x, y), (key, n)
        elif key == "opt_state":
            assert a[key].keys() == b[key].keys()
            for p in a[key]:
                for k in a[key][p]:
                    x, y = a[key][p][k], b[key][p][k]
                    assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y, (p, k)
        else:
            assert a[key] == b[key], key


def mistake_setup(make_opt):
    """A model where the step changes everything it can: params, frozen params, BN stats, grads, state."""
    model = Net(bn=True)
    model.dropout = nn.Dropout(0.5)
    opt = make_opt(model.parameters())
    make_step(model, opt, make_batch(seed=5))()  # state + grads exist
    model.backbone.requires_grad_(False)
    model.backbone[1].eval()
    x, y = make_batch(seed=6)

    def step():
        model.train()  # flips the BN back to train mode
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model.dropout(model(x)), y).backward()
        opt.step()
        opt.param_groups[0]["lr"] *= 0.5

    return model, opt, step


OPTS = [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
]


@pytest.mark.parametrize("make_opt", OPTS, ids=["sgd", "adamw"])
def test_restore_is_bit_identical(make_opt):
    model, opt, step = mistake_setup(make_opt)
    before = capture(model, opt)
    report = audit_step(model, opt, step, frozen=["backbone"], restore=True)
    assert "FRZ502" in report.codes  # the step really changed frozen weights ...
    assert_identical(before, capture(model, opt))  # ... and everything is back


@pytest.mark.parametrize("make_opt", OPTS, ids=["sgd", "adamw"])
def test_restore_then_train_equals_training_without_the_audit(make_opt):
    model, opt, step = mistake_setup(make_opt)
    twin_model = copy.deepcopy(model)
    for p, q in zip(model.parameters(), twin_model.parameters()):
        q.grad = None if p.grad is None else p.grad.clone()  # deepcopy drops grads
    twin_opt = make_opt(twin_model.parameters())
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict shares tensors
    x, y = make_batch(seed=6)

    def twin_step():
        twin_model.train()
        twin_opt.zero_grad(set_to_none=False)
        F.cross_entropy(twin_model.dropout(twin_model(x)), y).backward()
        twin_opt.step()
        twin_opt.param_groups[0]["lr"] *= 0.5

    rng = torch.get_rng_state()
    audit_step(model, opt, step, restore=True)
    step()  # the real step after the audit, same RNG draws thanks to the restore
    torch.set_rng_state(rng)
    twin_step()
    for (n, p), q in zip(model.named_parameters(), twin_model.parameters()):
        assert torch.equal(bits(p), bits(q)), n
    for (n, b), c in zip(model.named_buffers(), twin_model.buffers()):
        assert torch.equal(bits(b), bits(c)), n


def test_restore_when_the_step_raises_then_reraises():
    model, opt, inner = mistake_setup(OPTS[0])
    before = capture(model, opt)

    def step():
        inner()  # everything changed ...
        raise ValueError("data loader broke")  # ... then the step fails

    with pytest.raises(ValueError, match="data loader broke") as info:
        audit_step(model, opt, step, frozen=["backbone"], restore=True)
    assert info.value.freeze_audit_report is not None
    assert_identical(before, capture(model, opt))


def test_restore_false_keeps_the_step():
    model, opt, step = mistake_setup(OPTS[0])
    before = capture(model, opt)
    audit_step(model, opt, step, restore=False)
    after = capture(model, opt)
    assert not torch.equal(before["params"]["head.weight"], after["params"]["head.weight"])


def test_state_created_by_the_step_is_removed_and_identities_kept():
    model = Net(bn=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = {n: id(p) for n, p in model.named_parameters()}
    audit_step(model, opt, make_step(model, opt), restore=True)
    assert len(opt.state) == 0  # the first step's Adam state is gone again
    assert all(p.grad is None for p in model.parameters())
    assert {n: id(p) for n, p in model.named_parameters()} == ids


def test_param_written_outside_the_optimizer_is_reported_unrestored():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    inner = make_step(model, opt)
    before = bits(model.backbone[0].weight)
    original = model.backbone[0].weight.detach().clone()

    def step():
        inner()
        with torch.no_grad():
            model.backbone[0].weight.add_(1.0)

    with pytest.warns(RuntimeWarning, match="backbone.0.weight"):
        report = audit_step(model, opt, step, restore=True)
    assert report.unrestored == ["backbone.0.weight"]
    assert not torch.equal(bits(model.backbone[0].weight), before)

    model.backbone[0].weight.data.copy_(original)
    report = audit_step(model, opt, step, restore="all")
    assert report.unrestored == []
    assert torch.equal(bits(model.backbone[0].weight), before)


def test_hooks_are_always_removed():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def counts():
        return (
            len(opt._optimizer_step_pre_hooks),
            len(model._forward_pre_hooks),
            sum(len(getattr(p, "_post_accumulate_grad_hooks", None) or {}) for p in model.parameters()),
        )

    start = counts()
    audit_step(model, opt, make_step(model, opt), restore=True)
    assert counts() == start

    def bad():
        raise KeyError("x")

    with pytest.raises(KeyError):
        audit_step(model, opt, bad, restore=True)
    assert counts() == start
    with pytest.raises(KeyError):
        with FreezeAudit(model, opt):
            bad()
    assert counts() == start


def test_restore_keeps_parameter_and_state_storage():
    """restore=True swaps instead of copying back: the same Parameter objects and the
    same storages (data_ptr) come back, for parameters and Adam state alike."""
    model = Net(bn=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    step = make_step(model, opt)
    step()
    ptrs = {n: p.data_ptr() for n, p in model.named_parameters()}
    state_ptrs = {id(p): {k: v.data_ptr() for k, v in s.items()} for p, s in opt.state.items()}
    before = capture(model, opt)
    audit_step(model, opt, step, restore=True)
    assert_identical(before, capture(model, opt))
    assert {n: p.data_ptr() for n, p in model.named_parameters()} == ptrs
    assert {id(p): {k: v.data_ptr() for k, v in s.items()} for p, s in opt.state.items()} == state_ptrs


def test_restore_with_parameters_sharing_storage():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2))
    model[1].weight.data = model[0].weight.data  # old-style tying: two Parameters, one storage
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 0])
    step = make_step(model, opt, (x, y))
    before = capture(model, opt)
    audit_step(model, opt, step, restore=True)
    assert_identical(before, capture(model, opt))
    assert model[1].weight.data_ptr() == model[0].weight.data_ptr()  # still tied
