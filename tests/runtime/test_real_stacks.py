"""Issue 11: the auditor on real set-ups: optimizer wrappers, replaced tensors,
EMA teachers, grouped messages, frozen=None blind spots, summary()."""

import copy
import re

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import F, Net, make_batch, make_step, objs, trainable  # noqa: E402
from freezelint.findings import Severity  # noqa: E402
from freezelint.runtime import FreezeAudit, audit_step  # noqa: E402
from test_restore import assert_identical, capture  # noqa: E402


# ------------------------------------------------------------------ optimizer wrappers
class ForwardingOptimizer(torch.optim.Optimizer):
    """Like accelerate's AcceleratedOptimizer: an Optimizer subclass that never runs
    Optimizer.__init__ and forwards to `self.optimizer` (no `_optimizer_step_pre_hooks`)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        return self.optimizer.step(closure)


def test_optimizer_wrapper_without_optimizer_init_is_unwrapped():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    inner = torch.optim.SGD(trainable(model), lr=0.1)
    opt = ForwardingOptimizer(inner)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])  # raised AttributeError before
    assert report.findings == []
    assert not inner._optimizer_step_pre_hooks  # the hook is gone afterwards


def test_accelerate_prepared_optimizer():
    accelerate = pytest.importorskip("accelerate")
    acc = accelerate.Accelerator(cpu=True)
    net = Net(bn=False)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)  # built before the freeze
    model, opt = acc.prepare(net, opt)
    assert type(opt).__name__ == "AcceleratedOptimizer"
    x, y = make_batch()

    def step(set_to_none):
        def run():
            opt.zero_grad(set_to_none=set_to_none)
            acc.backward(F.cross_entropy(model(x), y))
            opt.step()
        return run

    step(False)()  # momentum state and (kept, zero-filled) grads for the whole model
    net.backbone.requires_grad_(False)
    report = audit_step(model, opt, step(False), frozen=["backbone"])
    assert report.codes == ["FRZ502"] and objs(report, "FRZ502") == ["backbone"]
    step(True)()  # grads set to None: the optimizer holds the backbone but cannot move it
    assert audit_step(model, opt, step(True), frozen=["backbone"]).codes == ["FRZ508"]


# ------------------------------------------------------------------ replaced tensors
class Rope(nn.Module):
    """Dynamic RoPE: re-registers `inv_freq` when the input is longer than seen so far."""

    def __init__(self, d=6):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d)), persistent=False)
        self.lin = nn.Linear(d, d)

    def forward(self, x, scale=1.0):
        if scale != 1.0:
            self.register_buffer("inv_freq", self.inv_freq / scale, persistent=False)  # a new tensor object
        return self.lin(x) * self.inv_freq.repeat(2)


def rope_setup():
    model = nn.ModuleDict({"rope": Rope(), "head": nn.Linear(6, 3)})
    model["rope"].requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    x, y = make_batch()
    return model, opt, x, y


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_replaced_buffer_restore_puts_the_original_object_back(scale):
    model, opt, x, y = rope_setup()
    original = model["rope"].inv_freq

    def step():
        opt.zero_grad()
        F.cross_entropy(model["head"](model["rope"](x, scale)), y).backward()
        opt.step()

    before = capture(model, opt)
    report = audit_step(model, opt, step, frozen=["rope"], restore=True)  # crashed in state.py (Tensor.__eq__) before
    assert model["rope"].inv_freq is original
    assert_identical(before, capture(model, opt))
    # compared by value: re-registering the same values is no change
    assert report.codes == ([] if scale == 1.0 else ["FRZ503"])


def test_replaced_buffer_with_same_values_is_not_a_change():
    model, opt, x, y = rope_setup()

    def step():
        opt.zero_grad()
        rope = model["rope"]
        rope.register_buffer("inv_freq", rope.inv_freq.clone(), persistent=False)
        F.cross_entropy(model["head"](rope(x)), y).backward()
        opt.step()

    assert audit_step(model, opt, step).findings == []


@pytest.mark.parametrize("restore", [False, True])
def test_replaced_frozen_parameter_is_a_finding(restore):
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    inner = make_step(model, opt)
    original = model.backbone[0].weight

    def step():
        inner()
        lin = model.backbone[0]
        lin.weight = nn.Parameter(lin.weight.detach().clone(), requires_grad=False)  # same values, new object

    report = audit_step(model, opt, step, frozen=["backbone"], restore=restore)
    assert report.codes == ["FRZ502"] and objs(report, "FRZ502") == ["backbone.0.weight"]
    assert "replaced by a new tensor object" in report.findings[0].message
    assert (model.backbone[0].weight is original) == restore


# ------------------------------------------------------------------ EMA / mean teacher
class MeanTeacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = Net(bn=False)
        self.teacher = copy.deepcopy(self.student)
        self.teacher.requires_grad_(False)
        self.student.backbone.requires_grad_(False)


def teacher_step(model, opt):
    x, y = make_batch()

    def step():
        opt.zero_grad()
        F.cross_entropy(model.student(x), y).backward()
        opt.step()
        with torch.no_grad():  # EMA update of the teacher, on purpose
            for t, s in zip(model.teacher.parameters(), model.student.parameters()):
                t.mul_(0.99).add_(s, alpha=0.01)

    return step


def test_ema_teacher_with_explicit_frozen_passes():
    model = MeanTeacher()
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    # Before: every teacher module was an FRZ502 error despite frozen= naming only the backbone.
    assert audit_step(model, opt, teacher_step(model, opt), frozen=["student.backbone"]).findings == []


def test_ema_teacher_with_ignore_passes_and_without_is_named():
    model = MeanTeacher()
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    assert audit_step(model, opt, teacher_step(model, opt), ignore=["teacher"]).findings == []
    assert audit_step(model, opt, teacher_step(model, opt), ignore=model.teacher).findings == []
    report = audit_step(model, opt, teacher_step(model, opt))  # frozen=None: requires_grad=False must stay
    assert report.codes == ["FRZ502"] and "teacher.head" in objs(report, "FRZ502")
    assert all(o.startswith("teacher.") for o in objs(report, "FRZ502"))
    assert "pass `ignore=[...]`" in report.findings[0].message


def test_explicit_frozen_still_catches_its_own_parameters_changing():
    model = MeanTeacher()
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    inner = teacher_step(model, opt)

    def step():
        inner()
        with torch.no_grad():
            model.student.backbone[0].weight.mul_(0.5)

    report = audit_step(model, opt, step, frozen=["student.backbone"])
    assert report.codes == ["FRZ502"] and objs(report, "FRZ502") == ["student.backbone.0.weight"]


# ------------------------------------------------------------------ grouped messages and counts
class ManyBN(nn.Module):
    def __init__(self, n=8):
        super().__init__()
        self.backbone = nn.Sequential(*[nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6)) for _ in range(n)])
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.backbone(x))


def test_one_cause_in_many_modules_is_one_finding_with_a_count():
    model = ManyBN()
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])
    (f,) = report.findings  # was one FRZ503 per BatchNorm module
    assert f.code == "FRZ503" and f.obj == "backbone"
    assert "of 8 frozen BatchNorm modules (backbone.0.1, backbone.1.1, backbone.2.1, ...)" in f.message
    assert dict(f.extra)["objects"] == tuple(sorted(f"backbone.{i}.1" for i in range(8)))


def test_parameters_spread_over_many_modules_group_into_one_finding():
    model = ManyBN()
    opt = torch.optim.SGD([p for n, p in model.named_parameters() if not n.endswith(".0.bias")], lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    (f,) = report.by_code("FRZ505")
    assert f.obj == "backbone" and "(8 parameters in 8 modules: backbone.0.0.bias, backbone.1.0.bias" in f.message
    assert "model.backbone" not in f.message  # no add_param_group over the whole (mostly held) backbone


def test_summary_line_counts_warnings_as_warnings():
    model = ManyBN(n=2)
    model.backbone.requires_grad_(False)
    model.eval()  # no BatchNorm drift: only the FRZ508 warning
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.ok and report.codes == ["FRZ508"]
    assert str(report).splitlines()[-1] == "Found 1 warning."  # was "Found 1 error."
    model.backbone[0][0].requires_grad = False  # + an FRZ504 error (the plain-attribute mistake)
    model.backbone[0][0].requires_grad_(True)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone.0.0"])
    assert str(report).splitlines()[-1] == "Found 1 error and 2 warnings."  # FRZ508 for backbone.0.1 and backbone.1


def _suggested_code(message):
    return re.search(r"`(optimizer\.add_param_group\(.*?\))`", message).group(1)


@pytest.mark.parametrize("unfreeze", ["emb", "backbone"])
def test_frz505_suggestion_runs(unfreeze):
    model = nn.ModuleDict({"emb": nn.Embedding(10, 6), "backbone": Net(bn=False), "head": nn.Linear(3, 2)})
    model.requires_grad_(False)
    model["head"].requires_grad_(True)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    model[unfreeze].requires_grad_(True)  # unfrozen after the optimizer was built
    report = audit_step(model, opt, lambda: None)
    (f,) = report.by_code("FRZ505")
    code = _suggested_code(f.message)
    # `add_param_group({'params': [model.emb]})` raised TypeError for a one-parameter module
    exec(code.replace("model.", "model_."), {"optimizer": opt, "model_": _Attr(model)})
    assert audit_step(model, opt, lambda: None).by_code("FRZ505") == []


class _Attr:
    """model.emb / model.backbone for a ModuleDict, as the message writes it."""

    def __init__(self, d):
        self._d = d

    def __getattr__(self, k):
        return self._d[k]


def test_zero_initialised_partner_zero_gradient_is_not_blamed_on_dead_units():
    class LoraLike(nn.Module):  # PEFT's naming: lora_B starts at zero, lora_A then gets a zero grad
        def __init__(self):
            super().__init__()
            self.base = nn.Linear(6, 6)
            self.lora_A = nn.ModuleDict({"default": nn.Linear(6, 2, bias=False)})
            self.lora_B = nn.ModuleDict({"default": nn.Linear(2, 6, bias=False)})
            nn.init.zeros_(self.lora_B["default"].weight)
            self.base.requires_grad_(False)

        def forward(self, x):
            return self.base(x) + self.lora_B["default"](self.lora_A["default"](x))

    model = nn.Sequential(LoraLike(), nn.Linear(6, 3))
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    assert report.findings == []  # was FRZ507 "gradient was all zeros (dead units ...)" for lora_A


# ------------------------------------------------------------------ frozen=None blind spots
def test_eval_used_as_a_freeze_is_reported_without_selectors():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    model.backbone.eval()  # meant as a freeze
    report = audit_step(model, opt, make_step(model, opt))
    assert report.codes == ["FRZ504"] and objs(report, "FRZ504") == ["backbone"]
    assert report.findings[0].severity == Severity.WARNING and "eval() does not freeze" in report.findings[0].message


def test_batchnorm_layers_kept_in_eval_are_not_eval_as_freeze():
    model = Net(bn=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    model.backbone[1].eval()  # fixed statistics, a legitimate choice
    assert audit_step(model, opt, make_step(model, opt)).findings == []


def test_sparse_and_quantised_buffers_are_checked():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)
            self.register_buffer("mask", torch.eye(3).to_sparse())
            self.register_buffer("q", torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.qint8))
            self.lin.requires_grad_(False)
            self.head = nn.Linear(3, 3)

        def forward(self, x):
            return self.head(self.lin(x))

    model = Holder()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    inner = make_step(model, opt)

    def step():
        inner()
        model.mask.coalesce()._values().mul_(2)  # a sparse buffer written in place
        model.q = torch.quantize_per_tensor(torch.ones(4) * 2, 0.1, 0, torch.qint8)

    report = audit_step(model, opt, step, frozen=["lin", "mask", "q"])
    assert report.codes == ["FRZ503"], report.findings  # was skipped silently
    assert "mask" in report.findings[0].message and "q" in report.findings[0].message


def test_meta_tensors_are_reported_as_unchecked():
    with torch.device("meta"):
        body = nn.Linear(6, 6)
    model = nn.ModuleDict({"body": body, "head": nn.Linear(6, 3)})
    model["body"].requires_grad_(False)
    opt = torch.optim.SGD(model["head"].parameters(), lr=0.1)
    report = audit_step(model, opt, lambda: None)
    assert "FRZ513" in report.codes and report.unchecked == ["body.weight", "body.bias"]


# ------------------------------------------------------------------ summary()
def test_summary_depth_mode_and_optimizer_rows():
    model = Net(bn=True)
    model.backbone.requires_grad_(False)
    model.train()
    model.backbone.eval()
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt))
    top = [(r.name, r.mode) for r in report.rows]
    assert top == [("backbone", "eval"), ("head", "train")]
    deep = report.summary(depth=2)
    assert "backbone.0 | Linear" in deep and "backbone.1 | BatchNorm1d | eval" in deep
    last = report.summary().splitlines()[-1]
    assert last == "optimizer (SGD, 1 param group): holds 27 params (27 trainable, 0 frozen); trainable but not held: 0"
    with pytest.raises(ValueError, match="depth"):
        report.summary(depth=0)


def test_summary_skips_wrappers_and_expands_a_dominant_child():
    class Wrapper(nn.Module):  # like PeftModel -> LoraModel -> the model
        def __init__(self, inner):
            super().__init__()
            self.base_model = nn.ModuleDict({"model": inner})

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict({"wte": nn.Embedding(50, 8), "h": nn.Sequential(nn.Linear(8, 8)), "ln_f": nn.LayerNorm(8)})
            self.lm_head = nn.Linear(8, 50, bias=False)
            self.lm_head.weight = self.transformer["wte"].weight  # tied: the transformer holds ~everything

    report = audit_step(Wrapper(LM()), None, lambda: None)
    assert [r.name for r in report.rows] == [
        "base_model.model.transformer.wte", "base_model.model.transformer.h", "base_model.model.transformer.ln_f"]


def test_fail_on_in_context_manager_after_restore():
    model = Net(bn=False)
    model.backbone.requires_grad = False  # FRZ504
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = capture(model, opt)
    from freezelint.runtime import FreezeAuditError

    with pytest.raises(FreezeAuditError, match="Found 1 error"):
        with FreezeAudit(model, opt, frozen=["backbone"], restore=True, fail_on="error"):
            make_step(model, opt)()
    assert_identical(before, capture(model, opt))
