"""Odd and large models: thousands of parameter tensors, several devices, half
precision under autocast, sparse gradients, weight_norm parametrizations, a
GradScaler that skips a step under autocast, and no parameters at all. Each
gives the right findings, no crash, and (restore=True) bit-identical state."""

import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import F, objs, trainable  # noqa: E402
from freezelint.runtime import audit_step  # noqa: E402
from test_restore import assert_identical, bits  # noqa: E402
from test_restore import capture as dense_capture  # noqa: E402


def capture(model, opt):
    """test_restore.capture, with sparse grads compared by their raw indices and values."""
    sparse = {n: p.grad for n, p in model.named_parameters() if p.grad is not None and p.grad.is_sparse}
    for n, p in model.named_parameters():
        if n in sparse:
            p.grad = None
    try:
        state = dense_capture(model, opt)
    finally:
        for n, p in model.named_parameters():
            if n in sparse:
                p.grad = sparse[n]
    for n, g in sparse.items():
        state["grads"][n] = torch.cat([bits(g._indices()), bits(g._values())])
    return state


class Many(nn.Module):
    def __init__(self, n, d=4):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(d, d) for _ in range(n))
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        for b in self.blocks:
            x = x + 0.01 * b(x)
        return self.head(x)


def _step(model, opt, x, y, set_to_none=True):
    def step():
        opt.zero_grad(set_to_none=set_to_none)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def test_thousands_of_parameter_tensors():
    n = 1500  # 3002 parameter tensors
    model = Many(n)
    for b in model.blocks[: n // 2]:
        b.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 0])
    before = capture(model, opt)
    report = audit_step(model, opt, _step(model, opt, x, y), frozen=[f"blocks.{i}" for i in range(n // 2)], restore=True)
    assert report.codes == []
    assert_identical(before, capture(model, opt))


def test_thousands_of_parameter_tensors_with_a_mistake_in_one():
    n = 1500
    model = Many(n)
    for b in model.blocks[: n // 2]:
        b.requires_grad_(False)
    model.blocks[7].requires_grad = False  # the plain-attribute mistake, on one block among thousands
    model.blocks[7].requires_grad_(True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 0])
    _step(model, opt, x, y)()
    report = audit_step(model, opt, _step(model, opt, x, y), frozen=["blocks.7"], restore=True)
    assert "blocks.7" in " ".join(f.obj or "" for f in report.findings)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_model_under_autocast(dtype):
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)
    model[0].requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.5)
    x, y = torch.randn(6, 8, dtype=dtype), torch.tensor([0, 1, 2, 0, 1, 2])

    def step():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        F.cross_entropy(out.float(), y).backward()
        opt.step()

    before = capture(model, opt)
    report = audit_step(model, opt, step, frozen=["0"], trainable=["2"], restore=True)
    assert [f.code for f in report.findings if f.severity.value == "error"] == []
    assert_identical(before, capture(model, opt))


def test_fp32_model_autocast_with_grad_scaler_that_skips_a_step():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    model[0].requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.5)
    scaler = torch.amp.GradScaler("cpu")
    x, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])

    def step(poison):
        def run():
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x).float(), y)
            scaler.scale(loss * (float("inf") if poison else 1.0)).backward()
            scaler.step(opt)
            scaler.update()

        return run

    assert audit_step(model, opt, step(False), frozen=["0"]).codes == []
    before = capture(model, opt)
    report = audit_step(model, opt, step(True), frozen=["0"], restore=True)
    assert report.codes == ["FRZ507"] and "GradScaler" in report.findings[0].message
    assert_identical(before, capture(model, opt))


@pytest.mark.parametrize("opt_name", ["sparse_adam", "sgd"])
def test_sparse_embedding_gradients(opt_name):
    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 6, sparse=True)
            self.frozen_emb = nn.Embedding(50, 6, sparse=True)
            self.frozen_emb.weight.requires_grad_(False)
            self.head = nn.Linear(6, 2)

        def forward(self, ids):
            return self.head(self.emb(ids).mean(1) + self.frozen_emb(ids).mean(1))

    model = Bag()
    if opt_name == "sparse_adam":
        opts = [torch.optim.SparseAdam([model.emb.weight], lr=0.1), torch.optim.Adam(model.head.parameters(), lr=0.1)]
    else:
        opts = [torch.optim.SGD(trainable(model), lr=0.1)]
    ids, y = torch.randint(0, 50, (4, 5)), torch.tensor([0, 1, 0, 1])

    def step():
        for o in opts:
            o.zero_grad()
        F.cross_entropy(model(ids), y).backward()
        assert model.emb.weight.grad.is_sparse
        for o in opts:
            o.step()

    step()  # optimizer state exists
    before = [capture(model, o) for o in opts]
    report = audit_step(model, opts if len(opts) > 1 else opts[0], step, frozen=["frozen_emb"], trainable=["emb", "head"], restore=True)
    assert report.codes == []
    for b, o in zip(before, opts):
        assert_identical(b, capture(model, o))


def test_frozen_sparse_embedding_in_the_optimizer_is_reported():
    model = nn.Embedding(30, 4, sparse=True)
    head = nn.Linear(4, 2)
    both = nn.ModuleDict({"emb": model, "head": head})
    opt = torch.optim.SGD(both.parameters(), lr=0.1, momentum=0.9)
    ids, y = torch.randint(0, 30, (4, 3)), torch.tensor([0, 1, 0, 1])

    def step():
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(head(model(ids).mean(1)), y).backward()
        opt.step()

    step()
    model.weight.requires_grad_(False)  # frozen after the optimizer was built: momentum keeps moving it
    report = audit_step(both, opt, step, frozen=["emb"], restore=True)
    assert report.codes == ["FRZ502"] and objs(report, "FRZ502") == ["emb"]  # momentum moved it
    msg = report.by_code("FRZ502")[0].message
    assert "zero-filled" in msg and "stale" not in msg  # a zeroed sparse grad is not "a stale gradient"


def test_weight_norm_parametrization():
    from torch.nn.utils.parametrizations import weight_norm

    model = nn.Sequential(weight_norm(nn.Linear(6, 6)), nn.ReLU(), weight_norm(nn.Linear(6, 3)))
    model[0].requires_grad_(False)
    names = [n for n, _ in model.named_parameters()]
    assert "0.parametrizations.weight.original0" in names
    opt = torch.optim.Adam(trainable(model), lr=0.1)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    _step(model, opt, x, y)()
    before = capture(model, opt)
    report = audit_step(model, opt, _step(model, opt, x, y), frozen=["0"], trainable=["2"], restore=True)
    assert report.codes == []
    assert_identical(before, capture(model, opt))


def test_weight_norm_parametrization_mistake_is_named():
    from torch.nn.utils.parametrizations import weight_norm

    model = nn.Sequential(weight_norm(nn.Linear(6, 6)), nn.ReLU(), nn.Linear(6, 3))
    model[0].requires_grad = False  # the mistake: a plain attribute
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    report = audit_step(model, opt, _step(model, opt, x, y), frozen=["0"], restore=True)
    assert report.codes, report.findings
    assert any((f.obj or "").startswith("0") for f in report.findings)


def test_model_with_no_parameters_at_all():
    model = nn.Sequential(nn.ReLU(), nn.Dropout(0.1))
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # an optimizer needs something

    def step():
        model(torch.randn(2, 3))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warnings either
        report = audit_step(model, opt, step, restore=True)
    # Nothing to check and nothing wrong: no FRZ509 ("nothing requires grad") for a
    # model that has no parameters, no FRZ505 for the optimizer's tensor outside it.
    assert report.findings == [] and report.rows == []
    assert "all params: 0" in report.summary()


devices = ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else []) + (["cuda:1"] if torch.cuda.device_count() > 1 else [])


@pytest.mark.skipif(len(devices) < 2, reason="needs a second device")
def test_parameters_on_several_devices():
    class Split(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4).to(devices[0])
            self.b = nn.Linear(4, 2).to(devices[1])

        def forward(self, x):
            return self.b(self.a(x.to(devices[0])).to(devices[1]))

    model = Split()
    model.a.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 0], device=devices[1])
    before = capture(model, opt)
    report = audit_step(model, opt, _step(model, opt, x, y), frozen=["a"], trainable=["b"], restore=True)
    assert report.codes == []
    assert_identical(before, capture(model, opt))
