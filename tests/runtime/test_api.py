"""AuditReport, FreezeAudit context manager, dtypes, odd models and optimizers."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import F, Net, make_batch, make_step, objs, trainable  # noqa: E402
from freezelint.findings import Finding  # noqa: E402
from freezelint.runtime import AuditReport, FreezeAudit, FreezeAuditError, audit_step  # noqa: E402


def frozen_backbone():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1, momentum=0.9)
    return model, opt


def test_summary_table_counts_and_bytes():
    model, opt = frozen_backbone()
    report = audit_step(model, opt, make_step(model, opt))
    rows = {r.name: r for r in report.rows}
    assert (rows["backbone"].trainable, rows["backbone"].frozen) == (0, 6 * 8 + 8 + 8 * 8 + 8)
    assert (rows["head"].trainable, rows["head"].frozen) == (8 * 3 + 3, 0)
    assert rows["backbone"].frozen_bytes == 128 * 4
    text = report.summary()
    assert text.splitlines()[0].split() == ["|", "Name", "|", "Type", "|", "Mode", "|", "Trainable", "|", "Frozen", "|",
                                            "In", "optimizer", "|", "Trainable", "size", "|", "Frozen", "size"]
    assert "0 | backbone | Sequential | train | 0" in text
    assert "trainable params: 27 || frozen params: 128 || all params: 155 || trainable%: 17.42" in text


def test_summary_counts_tied_parameters_once():
    from conftest import TiedLM

    model = TiedLM()
    report = audit_step(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda: None)
    assert sum(r.trainable + r.frozen for r in report.rows) == sum(p.numel() for p in model.parameters())


def test_raise_for_findings_and_fail_on_context_manager():
    model = Net(bn=False)
    model.backbone.requires_grad = False
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    step = make_step(model, opt)
    report = audit_step(model, opt, step, frozen=["backbone"])
    assert not report.ok and report.errors and report.warnings == []
    with pytest.raises(FreezeAuditError, match="FRZ504") as info:
        report.raise_for_findings()
    assert info.value.findings == report.findings
    with pytest.raises(FreezeAuditError, match="backbone: FRZ504"):
        with FreezeAudit(model, opt, frozen=["backbone"], fail_on="error", restore=True):
            step()


def test_context_manager_keeps_the_step_by_default():
    model, opt = frozen_backbone()
    before = model.head.weight.detach().clone()
    with FreezeAudit(model, opt, frozen=["backbone"]) as audit:
        make_step(model, opt)()
    assert isinstance(audit.report, AuditReport) and audit.report.findings == []
    assert not torch.equal(model.head.weight, before)  # the real step stays


def test_warnings_only_report_is_ok_unless_asked():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # holds the frozen backbone: FRZ508, a warning
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ508"] and report.ok
    report.raise_for_findings()  # no error: no raise
    with pytest.raises(FreezeAuditError):
        report.raise_for_findings(fail_on="warning")


def test_findings_are_runtime_findings():
    model = Net(bn=False)
    model.backbone.requires_grad = False
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    (f,) = audit_step(model, opt, make_step(model, opt), frozen=["backbone"]).findings
    assert isinstance(f, Finding)
    assert (f.code, f.name, f.source, f.path, f.obj) == (
        "FRZ504", "declared-frozen-but-trainable", "runtime", "", "backbone")
    assert Finding.from_dict(f.to_dict()) == f


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_parameters(dtype):
    model = Net(bn=False).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    make_step(model, opt, tuple(t.to(dtype) if t.is_floating_point() else t for t in make_batch(seed=2)))()
    model.backbone.requires_grad_(False)
    x, y = make_batch()
    step = make_step(model, opt, (x.to(dtype), y), set_to_none=False)
    report = audit_step(model, opt, step, frozen=["backbone"])
    assert report.codes == ["FRZ502"]
    model2 = Net(bn=False).to(dtype)
    model2.backbone.requires_grad_(False)
    opt2 = torch.optim.AdamW(trainable(model2), lr=1e-2)
    assert audit_step(model2, opt2, make_step(model2, opt2, (x.to(dtype), y)), frozen=["backbone"]).findings == []


def test_model_without_parameters():
    model = nn.Sequential(nn.ReLU(), nn.Dropout(0.1))
    report = audit_step(model, None, lambda: model(torch.randn(3)))
    assert report.findings == [] and report.rows == []
    assert "all params: 0" in report.summary()


def test_shared_module_between_two_parents():
    shared = nn.Linear(4, 4)
    model = nn.ModuleDict({"a": nn.Sequential(shared, nn.ReLU()), "b": nn.Sequential(shared), "head": nn.Linear(4, 2)})
    shared.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    x, y = torch.randn(5, 4), torch.randint(0, 2, (5,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model["head"](model["b"](model["a"](x))), y).backward()
        opt.step()

    assert audit_step(model, opt, step, frozen=["a", "b"]).findings == []
    report = audit_step(model, opt, step, frozen=["a"], trainable=["b"])
    assert report.codes == ["FRZ512"]
    assert objs(report, "FRZ512") == ["a.0.bias", "a.0.weight"]


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        audit_step([nn.Linear(2, 2)], None, lambda: None)
    with pytest.raises(TypeError, match="zero-argument callable"):
        audit_step(nn.Linear(2, 2), None, "step")
    with pytest.raises(TypeError, match="has no step"):
        audit_step(nn.Linear(2, 2), object(), lambda: None)


class PlainSGD:
    """Not a torch.optim.Optimizer: param_groups + step(), like many hand-written optimizers."""

    def __init__(self, params, lr):
        self.param_groups = [{"params": list(params), "lr": lr}]

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-g["lr"])

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None


def test_duck_typed_optimizer_is_wrapped_and_unwrapped():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = PlainSGD(model.parameters(), lr=0.1)  # holds the frozen backbone too
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ508"]
    assert "step" not in opt.__dict__  # the wrapper is gone


class NoGroups:
    def __init__(self, params):
        self.params = list(params)

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.sub_(0.1 * p.grad)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None


def test_optimizer_without_param_groups_skips_membership_checks():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = NoGroups(model.head.parameters())
    report = audit_step(model, opt, make_step(model, opt))
    assert report.findings == []
    model.backbone[0].requires_grad_(True)  # not optimised, but the audit cannot know
    assert "FRZ505" not in audit_step(model, opt, make_step(model, opt)).codes


def test_several_optimizers():
    model = Net(bn=False)
    opt_a = torch.optim.SGD(model.backbone.parameters(), lr=0.1)
    opt_b = torch.optim.AdamW(model.head.parameters(), lr=1e-2)
    x, y = make_batch()

    def step():
        opt_a.zero_grad()
        opt_b.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt_a.step()
        opt_b.step()

    assert audit_step(model, [opt_a, opt_b], step).findings == []
    assert audit_step(model, [opt_b], step).codes == ["FRZ505"]
