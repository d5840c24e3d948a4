"""restore=True detects changes of copied tensors against the copy (no fingerprint): bit-exact."""

import pytest
import torch
from torch import nn

from freezelint.runtime import FreezeAudit, audit_step
from freezelint.runtime.state import bits_equal

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int64, torch.uint8]


def _flip(t: torch.Tensor, idx: int, bit: int) -> None:
    ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    v = t.view(-1).view(ints)
    v[idx] ^= (1 << bit) if bit < 8 * t.element_size() - 1 else -(1 << bit)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bits_equal_sees_every_single_bit(dtype):
    t = (torch.arange(24) - 12).to(dtype)
    saved = t.clone()
    assert bits_equal(t, saved)
    for idx in (0, 11, 23):
        for bit in range(8 * t.element_size()):
            _flip(t, idx, bit)
            assert not bits_equal(t, saved), (idx, bit)
            _flip(t, idx, bit)
            assert bits_equal(t, saved)


def test_bits_equal_signed_zero_nan_payload_complex_and_layout():
    z, nz = torch.zeros(3), torch.zeros(3)
    nz[1] = -0.0
    assert torch.equal(z, nz) and not bits_equal(nz, z)
    nan = torch.full((2,), float("nan"))
    other = nan.clone()
    other.view(torch.int32)[0] ^= 1  # another quiet NaN payload
    assert torch.isnan(other).all()
    assert bits_equal(nan, nan.clone())  # torch.equal says False for NaN
    assert not bits_equal(other, nan)
    c = torch.randn(4, dtype=torch.complex64)
    c2 = c.clone()
    torch.view_as_real(c2).view(torch.int32)[2, 1] ^= 1
    assert bits_equal(c, c.clone()) and not bits_equal(c2, c)
    m = torch.randn(3, 4)
    assert bits_equal(m.t(), m.t().clone())  # non-contiguous
    assert not bits_equal(m, m.reshape(4, 3).clone())  # shape
    assert not bits_equal(m, m.double())  # dtype


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2, bias=False)
        self.a.register_buffer("count", torch.zeros(3))  # a buffer of the frozen module


@pytest.mark.parametrize("change", ["negzero", "nanpayload", "lowbit", "none"])
@pytest.mark.parametrize("target", ["frozen_in_opt", "trainable_param", "buffer"])
def test_restore_copy_detects_single_bit_changes(change, target):
    torch.manual_seed(0)
    net = Net()
    net.a.requires_grad_(False)
    opt = torch.optim.SGD(list(net.parameters()), lr=0.0)  # frozen a.* held by the optimizer: copied
    t = {"frozen_in_opt": net.a.weight, "trainable_param": net.b.weight, "buffer": net.a.count}[target]
    with torch.no_grad():
        t.view(-1)[0] = 0.0
        t.view(-1)[1] = float("nan")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(2, 4)

    def step():
        opt.zero_grad()
        net.b(net.a(x)).nan_to_num().sum().backward()
        opt.step()
        with torch.no_grad():
            flat = t.view(-1)
            if change == "negzero":
                flat[0] = -0.0
            elif change == "nanpayload":
                flat.view(torch.int32)[1] ^= 1
            elif change == "lowbit":
                flat.view(torch.int32)[2] ^= 1

    audit = FreezeAudit(net, opt, restore=True)
    with audit:
        k = next(n for n, i in enumerate(audit.ps) if i.tensor is t) if target != "buffer" else len(audit.ps)
        assert audit.changes.copies[k] is not None  # compared with the copy, not fingerprinted
        step()
    report = audit.report
    for key, v in net.state_dict().items():
        assert bits_equal(v, before[key]), key
    if target == "frozen_in_opt":
        assert ("FRZ502" in report.codes) == (change != "none")
    elif target == "trainable_param":
        # lr=0: only the manual write moves it; unchanged bits -> FRZ507
        assert ("FRZ507" in report.codes) == (change == "none")
    else:
        assert ("FRZ503" in report.codes) == (change != "none")


def test_restore_false_still_fingerprints_everything():
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    audit = FreezeAudit(net, opt, restore=False)
    with audit:
        assert all(c is None for c in audit.changes.copies)
        opt.zero_grad()
        net.b(net.a(torch.randn(2, 4))).sum().backward()
        opt.step()
    assert audit.report.ok


def test_audit_step_restore_true_full_model_changes_detected():
    torch.manual_seed(1)
    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    x = torch.randn(2, 4)

    def step():
        opt.zero_grad()
        net.b(net.a(x)).sum().backward()
        opt.step()

    report = audit_step(net, opt, step, restore=True)
    assert report.ok and "FRZ507" not in report.codes
