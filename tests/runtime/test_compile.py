"""torch.compile: names without `_orig_mod.`, hooks and fingerprints around a compiled model."""

import shutil

import pytest

torch = pytest.importorskip("torch")

from conftest import Net, make_step, objs, trainable  # noqa: E402
from freezelint.runtime import audit_step  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile is not available")


def compiled_setup(backend, mistake=False):
    torch._dynamo.reset()
    model = Net(bn=False)
    if mistake:
        model.backbone.requires_grad = False
    else:
        model.backbone.requires_grad_(False)
    cmodel = torch.compile(model, backend=backend)
    opt = torch.optim.SGD(trainable(model), lr=0.1, momentum=0.9)
    return cmodel, opt, make_step(cmodel, opt)


@pytest.mark.parametrize("frozen", [["backbone"], ["_orig_mod.backbone"], None])
def test_compiled_model_correct_freeze(frozen):
    cmodel, opt, step = compiled_setup("aot_eager")
    assert next(iter(dict(cmodel.named_parameters()))).startswith("_orig_mod.")
    report = audit_step(cmodel, opt, step, frozen=frozen)
    assert report.findings == []
    assert [r.name for r in report.rows] == ["backbone", "head"]


def test_compiled_model_mistake_uses_user_names():
    cmodel, opt, step = compiled_setup("aot_eager", mistake=True)
    report = audit_step(cmodel, opt, step, frozen=["backbone"])
    assert report.codes == ["FRZ504"]
    assert objs(report, "FRZ504") == ["backbone"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="inductor needs a C compiler")
def test_inductor_compiled_model():
    try:
        cmodel, opt, step = compiled_setup("inductor")
        step()  # compile once outside the audit (a failure here is the machine, not the auditor)
    except Exception as e:  # pragma: no cover - depends on the machine's toolchain
        pytest.skip(f"torch.compile with inductor does not work here: {type(e).__name__}: {e}")
    report = audit_step(cmodel, opt, step, frozen=["backbone"])
    assert report.findings == []
    # restore=True swaps parameter storage back and forth: the compiled step keeps working
    before = {n: p.detach().clone() for n, p in cmodel.named_parameters()}
    assert audit_step(cmodel, opt, step, frozen=["backbone"], restore=True).findings == []
    assert all(torch.equal(before[n], p) for n, p in cmodel.named_parameters())
    step()
    trained = [n for n, p in cmodel.named_parameters() if p.requires_grad]
    assert trained and all(not torch.equal(before[n], p) for n, p in cmodel.named_parameters() if n in trained)
