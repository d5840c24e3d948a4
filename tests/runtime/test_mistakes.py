"""Each classic freezing mistake, reproduced for real, gives exactly its codes."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import F, Net, TiedLM, lm_step, make_batch, make_step, objs, trainable  # noqa: E402
from freezelint.findings import Severity  # noqa: E402
from freezelint.runtime import audit_step  # noqa: E402


def warm_up(model, opt):
    """One real step before freezing, so grads and momentum/Adam state exist."""
    make_step(model, opt, make_batch(seed=7))()


# ------------------------------------------------------------------ correct freezes
@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
], ids=["sgd-momentum", "adamw-wd"])
@pytest.mark.parametrize("frozen", [None, ["backbone"]])
def test_a_correct_freeze_has_no_findings(make_opt, frozen):
    model = Net(bn=True)
    model.backbone.requires_grad_(False)
    model.train()
    model.backbone.eval()  # BatchNorm statistics frozen too
    opt = make_opt(trainable(model))
    report = audit_step(model, opt, make_step(model, opt), frozen=frozen)
    assert report.findings == []
    assert report.ok


def test_correct_tied_freeze_names_both_names():
    model = TiedLM()
    model.embed.requires_grad_(False)
    opt = torch.optim.AdamW(trainable(model), lr=1e-2, weight_decay=0.1)
    report = audit_step(model, opt, lm_step(model, opt), frozen=["embed", "lm_head"])
    assert report.findings == []


# ------------------------------------------------------------------ module.requires_grad = False
@pytest.mark.parametrize("frozen", [["backbone"], None])
def test_module_requires_grad_attribute(frozen):
    model = Net(bn=False)
    model.backbone.requires_grad = False  # a plain attribute: freezes nothing
    opt = torch.optim.SGD(trainable(model), lr=0.1, momentum=0.9)
    report = audit_step(model, opt, make_step(model, opt), frozen=frozen)
    assert report.codes == ["FRZ504"]
    (f,) = report.findings
    assert f.obj == "backbone" and f.severity == Severity.ERROR and f.source == "runtime"
    assert "`model.backbone.requires_grad = False` set a plain attribute" in f.message
    assert "call `model.backbone.requires_grad_(False)`" in f.message


def test_requires_grad_method_overwritten():
    model = Net(bn=False)
    model.backbone.requires_grad_ = False  # shadows the method
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])
    assert report.codes == ["FRZ504"]
    assert objs(report, "FRZ504") == ["backbone"]
    assert "`model.backbone.requires_grad_` was overwritten" in report.findings[0].message


def test_eval_as_freeze():
    model = Net(bn=True)
    model.backbone.eval()  # not a freeze
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])
    assert report.codes == ["FRZ504"]
    assert objs(report, "FRZ504") == ["backbone"]
    assert "eval() does not freeze" in report.findings[0].message


def test_declared_frozen_but_never_frozen_names_the_selector():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone.0"])
    assert report.codes == ["FRZ504"]
    assert objs(report, "FRZ504") == ["backbone.0"]
    assert "call `model.backbone[0].requires_grad_(False)`" in report.findings[0].message


# ------------------------------------------------------------------ optimizer built before freezing
@pytest.mark.parametrize("frozen", [["backbone"], None])
def test_optimizer_before_freezing_sgd_momentum_zero_filled_grads(frozen):
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    warm_up(model, opt)
    model.backbone.requires_grad_(False)
    report = audit_step(model, opt, make_step(model, opt, set_to_none=False), frozen=frozen)
    # One cause, one finding: FRZ502 names the zero-filled grad and the optimizer
    # that holds the frozen parameters (no FRZ501 + FRZ508 repeating it).
    assert report.codes == ["FRZ502"]
    assert objs(report, "FRZ502") == ["backbone"]
    msg = report.by_code("FRZ502")[0].message
    assert "zero-filled (`zero_grad(set_to_none=False)`)" in msg and "momentum / weight decay moved it" in msg
    assert "the optimizer still holds it" in msg
    assert not report.ok


def test_optimizer_before_freezing_adamw_weight_decay():
    model = Net(bn=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    warm_up(model, opt)
    model.backbone.requires_grad_(False)
    report = audit_step(model, opt, make_step(model, opt, set_to_none=False), frozen=["backbone"])
    assert report.codes == ["FRZ502"]
    assert objs(report, "FRZ502") == ["backbone"]
    assert "(4 parameters)" in report.by_code("FRZ502")[0].message


def test_stale_grads_from_a_backward_before_the_freeze():
    model = Net(bn=False)
    x, y = make_batch(seed=3)
    F.cross_entropy(model(x), y).backward()  # grads everywhere
    model.backbone.requires_grad_(False)  # ... and they stay on the backbone
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step():  # zero_grad at the end: the stale grads reach the first step
        F.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()

    report = audit_step(model, opt, step, frozen=["backbone"])
    assert report.codes == ["FRZ502"]
    assert "applied a stale gradient (a backward before the freeze)" in report.by_code("FRZ502")[0].message


def test_stale_grad_kept_after_the_step_on_frozen_params_outside_the_optimizer():
    model = Net(bn=False)
    x, y = make_batch()
    F.cross_entropy(model(x), y).backward()
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)  # zero_grad() never reaches the backbone
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])
    assert report.codes == ["FRZ501"]
    assert objs(report, "FRZ501") == ["backbone"]


def test_frozen_param_written_in_the_step_outside_the_optimizer():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    inner = make_step(model, opt)

    def step():  # an "EMA" in the wrong direction
        inner()
        with torch.no_grad():
            model.backbone[0].weight.mul_(0.99)

    report = audit_step(model, opt, step, frozen=["backbone"], restore="all")
    assert report.codes == ["FRZ502"]
    assert objs(report, "FRZ502") == ["backbone.0.weight"]
    assert "outside the optimizer" in report.findings[0].message


# ------------------------------------------------------------------ BatchNorm statistics
def test_batchnorm_statistics_drift_under_a_requires_grad_freeze():
    model = Net(bn=True)
    model.backbone.requires_grad_(False)
    model.train()
    opt = torch.optim.SGD(trainable(model), lr=0.1, momentum=0.9)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])
    assert report.codes == ["FRZ503"]
    (f,) = report.findings
    assert f.obj == "backbone.1" and f.severity == Severity.ERROR
    assert "running_mean, running_var, num_batches_tracked" in f.message
    assert "`model.backbone[1].eval()`" in f.message


def test_batchnorm_drift_in_a_frozen_module_is_an_error_without_selectors():
    # Was a warning (report.ok was True) under frozen=None: a frozen BatchNorm
    # drifting is the same bug whether or not frozen= names it.
    model = Net(bn=True)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ503"]
    assert report.findings[0].severity == Severity.ERROR
    assert not report.ok


def test_non_batchnorm_buffer_drift_stays_a_warning_without_selectors():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 6)
            self.register_buffer("calls", torch.zeros(()))

        def forward(self, x):
            self.calls += 1
            return self.lin(x)

    model = nn.Sequential(Counter(), nn.Linear(6, 3))
    model[0].lin.requires_grad_(False)
    model[0].register_parameter("scale", None)
    model[0].frozen_w = nn.Parameter(torch.ones(1), requires_grad=False)  # the module's own, frozen
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ503"] and report.findings[0].severity == Severity.WARNING and report.ok


# ------------------------------------------------------------------ unfreezing
def test_unfreezing_without_add_param_group():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1, momentum=0.9)
    model.backbone[2].requires_grad_(True)  # unfrozen later, optimizer not told
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ505"]
    assert objs(report, "FRZ505") == ["backbone.2"]
    assert "add_param_group" in report.findings[0].message

    opt.add_param_group({"params": list(model.backbone[2].parameters())})
    assert audit_step(model, opt, make_step(model, opt)).findings == []


def test_optimizer_membership_is_by_identity_not_value():
    model = Net(bn=False)
    copies = [nn.Parameter(p.detach().clone()) for p in model.head.parameters()]
    opt = torch.optim.SGD(list(model.backbone.parameters()) + copies, lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ505"]
    assert objs(report, "FRZ505") == ["head"]


# ------------------------------------------------------------------ head replaced then everything frozen
def test_head_replaced_then_everything_frozen():
    model = Net(bn=False)
    model.head = nn.Linear(8, 5)  # the new head ...
    for p in model.parameters():
        p.requires_grad = False  # ... frozen with everything else
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1, momentum=0.9)
    x, y = make_batch(n_out=5)
    with pytest.raises(RuntimeError, match="does not require grad") as info:
        audit_step(model, opt, make_step(model, opt, (x, y)), frozen=["backbone"])
    report = info.value.freeze_audit_report
    assert report.codes == ["FRZ508", "FRZ509"]
    assert objs(report, "FRZ508") == ["head"]
    assert "FRZ509" in "\n".join(getattr(info.value, "__notes__", []))


def test_head_named_trainable_but_frozen():
    model = Net(bn=False)
    model.head = nn.Linear(8, 3)
    for p in model.parameters():
        p.requires_grad = False
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    with pytest.raises(RuntimeError) as info:
        audit_step(model, opt, make_step(model, opt), frozen=["backbone"], trainable=["head"])
    report = info.value.freeze_audit_report
    assert report.codes == ["FRZ506", "FRZ509"]  # declared trainable: not FRZ508
    assert objs(report, "FRZ506") == ["head"]
    assert report.by_code("FRZ506")[0].severity == Severity.ERROR


# ------------------------------------------------------------------ tied embeddings
def test_tied_embeddings_frozen_under_one_name_trained_under_the_other():
    model = TiedLM()
    model.embed.requires_grad_(False)  # also freezes lm_head.weight: same tensor
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    report = audit_step(model, opt, lm_step(model, opt), frozen=["embed"], trainable=["lm_head"])
    assert report.codes == ["FRZ512"]
    (f,) = report.findings
    assert f.obj == "embed.weight" and "`lm_head.weight`" in f.message and "tied" in f.message


def test_tied_embeddings_declared_frozen_under_one_name_only():
    model = TiedLM()  # nothing frozen: the tied weight trains under both names
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    report = audit_step(model, opt, lm_step(model, opt), frozen=["embed"])
    assert report.codes == ["FRZ512"]
    assert objs(report, "FRZ512") == ["embed.weight"]


# ------------------------------------------------------------------ gradients that do not arrive or do nothing
def test_unused_trainable_layer_gets_no_grad():
    model = Net(bn=False)
    model.unused = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ506"]
    assert objs(report, "FRZ506") == ["unused"]
    assert report.ok  # a warning


def test_lr_zero_as_freeze_leaves_params_unchanged():
    model = Net(bn=False)
    opt = torch.optim.SGD([
        {"params": model.backbone.parameters(), "lr": 0.0},
        {"params": model.head.parameters()},
    ], lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ507"]
    assert objs(report, "FRZ507") == ["backbone"]
    assert "lr=0" in report.findings[0].message
    report = audit_step(model, opt, make_step(model, opt), trainable=["backbone"])
    assert report.by_code("FRZ507")[0].severity == Severity.ERROR


def test_step_before_backward():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = make_batch()

    def step():
        opt.zero_grad()
        opt.step()
        F.cross_entropy(model(x), y).backward()

    report = audit_step(model, opt, step)
    assert report.codes == ["FRZ507"]
    assert objs(report, "FRZ507") == ["backbone", "head"]
    assert "arrived after optimizer.step()" in report.findings[0].message


def test_grad_scaler_skipped_step():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    x, y = make_batch()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) * float("inf")
        scaler.scale(loss).backward()
        scaler.step(opt)  # finds inf grads: skips optimizer.step()
        scaler.update()

    report = audit_step(model, opt, step)
    assert report.codes == ["FRZ507"]
    assert "GradScaler" in report.findings[0].message


def test_forward_under_no_grad_with_the_requires_grad_hack():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = make_batch()

    def step():
        opt.zero_grad()
        with torch.no_grad():
            loss = F.cross_entropy(model(x), y)
        loss.requires_grad_(True)  # "fixes" the backward error, trains nothing
        loss.backward()
        opt.step()

    report = audit_step(model, opt, step)
    assert report.codes == ["FRZ509"]
    assert "torch.no_grad()" in report.findings[0].message


def test_inference_mode_step_raises_and_reports():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = make_batch()

    def step():
        with torch.inference_mode():
            loss = F.cross_entropy(model(x), y)
        loss.backward()

    with pytest.raises(RuntimeError) as info:
        audit_step(model, opt, step)
    assert info.value.freeze_audit_report.codes == ["FRZ509"]
    assert "inference_mode" in info.value.freeze_audit_report.findings[0].message


def test_bias_before_batchnorm_gets_an_update_that_rounds_away():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(8, 4)

    def step():
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    report = audit_step(model, opt, step)
    assert report.codes == ["FRZ507"]
    assert objs(report, "FRZ507") == ["0.bias"]
    assert "rounded away" in report.findings[0].message
