"""Issue 15, "Runtime API, made coherent": one signature, one `fail_on`, strict formats,
selector objects, py.typed, public `__all__`, distinct report class names."""

import importlib
import inspect
import pathlib
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from conftest import Net, make_step, objs, trainable  # noqa: E402
import freezelint.runtime as runtime  # noqa: E402
from freezelint.runtime import AuditReport, FreezeAudit, FreezeAuditError, audit_step  # noqa: E402
from test_restore import assert_identical, capture  # noqa: E402


def keyword_params(fn):
    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.kind == p.KEYWORD_ONLY}


def test_freeze_audit_and_audit_step_share_keyword_only_options_and_defaults():
    a, b = keyword_params(FreezeAudit.__init__), keyword_params(audit_step)
    assert a == b
    assert a["restore"] is False and a["fail_on"] is None
    assert {"frozen", "trainable", "ignore", "restore", "fail_on", "chunk_bytes"} <= set(a)
    model = Net(bn=False)
    with pytest.raises(TypeError):
        audit_step(model, None, lambda: None, ["backbone"])  # frozen= is keyword-only now
    with pytest.raises(TypeError):
        FreezeAudit(model, None, ["backbone"])


def mistake():
    model = Net(bn=False)
    model.backbone.requires_grad = False  # FRZ504, an error
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    return model, opt


def warning_only():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # FRZ508, a warning
    return model, opt


def test_fail_on_in_audit_step_raises_after_restoring():
    model, opt = mistake()
    before = capture(model, opt)
    with pytest.raises(FreezeAuditError, match="FRZ504") as info:
        audit_step(model, opt, make_step(model, opt), frozen=["backbone"], restore=True, fail_on="error")
    assert info.value.report.codes == ["FRZ504"]
    assert_identical(before, capture(model, opt))
    model, opt = warning_only()
    assert audit_step(model, opt, make_step(model, opt), fail_on="error").codes == ["FRZ508"]
    with pytest.raises(FreezeAuditError, match="Found 1 warning"):
        audit_step(model, opt, make_step(model, opt), fail_on="warning")


def test_raise_for_findings_takes_fail_on():
    model, opt = warning_only()
    report = audit_step(model, opt, make_step(model, opt))
    report.raise_for_findings()  # default "error": warnings pass
    with pytest.raises(FreezeAuditError):
        report.raise_for_findings(fail_on="warning")
    with pytest.raises(TypeError):
        report.raise_for_findings(include_warnings=True)  # the old spelling is gone


@pytest.mark.parametrize("where", ["audit_step", "FreezeAudit", "raise_for_findings", "failed"])
def test_bad_fail_on_is_a_clear_error_everywhere(where):
    model, opt = warning_only()
    with pytest.raises(ValueError, match="fail_on= takes 'error', 'warning' or None"):
        if where == "audit_step":
            audit_step(model, opt, make_step(model, opt), fail_on="errors")
        elif where == "FreezeAudit":
            FreezeAudit(model, opt, fail_on=True)
        else:
            report = audit_step(model, opt, make_step(model, opt))
            getattr(report, where)("warnings")


def test_render_rejects_unknown_formats():
    model, opt = mistake()
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone"])
    assert report.render("json").lstrip().startswith("[")
    from freezelint.report import FORMATS

    with pytest.raises(ValueError, match="unknown format 'xml'; expected one of: " + ", ".join(FORMATS)):
        report.render("xml")


def test_selectors_accept_module_and_parameter_objects():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    step = make_step(model, opt)
    by_name = audit_step(model, opt, step, frozen=["backbone"], trainable=["head"])
    by_obj = audit_step(model, opt, step, frozen=model.backbone, trainable=[model.head.weight, model.head.bias])
    assert by_name.findings == by_obj.findings == []
    model.head.bias.requires_grad_(False)
    report = audit_step(model, opt, step, frozen=[model.backbone], trainable=[model.head.bias])
    assert objs(report, "FRZ506") == ["head.bias"]
    params = audit_step(model, opt, step, frozen=model.backbone.parameters())  # a generator works too
    assert "FRZ510" not in params.codes


def test_py_typed_is_shipped():
    import freezelint

    pkg = pathlib.Path(freezelint.__file__).parent
    assert (pkg / "py.typed").is_file()
    pyproject = (pkg.parent / "pyproject.toml").read_text()
    assert 'freezelint = ["py.typed"]' in pyproject  # package-data: in the wheel too


def test_all_lists_public_names_only():
    assert runtime.__all__ == ["AuditReport", "FreezeAudit", "FreezeAuditError", "RunReport", "SummaryRow", "audit_step", "watch"]
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None
    for mod in ("audit", "report", "changes", "checks_pre", "checks_post", "collect", "optimizers", "params",
                "selectors", "state", "summary_rows", "fingerprint", "codes", "run_config", "run_hooks", "run_html",
                "run_intent", "run_report", "run_script", "run_watch"):
        m = importlib.import_module(f"freezelint.runtime.{mod}")
        for name in getattr(m, "__all__", []):
            assert not name.startswith("_") and hasattr(m, name), (mod, name)


def test_runtime_and_static_report_classes_have_distinct_names():
    from freezelint.static.rules.base import Report as StaticReport

    assert AuditReport is not StaticReport and AuditReport.__name__ != StaticReport.__name__
    assert not hasattr(runtime, "Report")


@pytest.mark.slow
def test_pytest_fixture_fail_on_warning(tmp_path):
    (tmp_path / "test_w.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn

        def setup():
            model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
            model[0].requires_grad_(False)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)   # FRZ508: a warning
            x = torch.randn(3, 4)

            def step():
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()

            return model, opt, step

        def test_default_passes(freeze_audit):
            assert freeze_audit(*setup()).codes == ["FRZ508"]

        def test_warning_fails(freeze_audit):
            freeze_audit(*setup(), fail_on="warning")

        def test_bad_value(freeze_audit):
            freeze_audit(*setup(), fail_on="warnings")
    '''))
    from test_pytest_plugin import _plugin_args

    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args(),
                           str(tmp_path / "test_w.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert "2 failed, 1 passed" in out, out + proc.stderr
    assert "freezelint audit found freezing findings" in out and "Found 1 warning." in out
    assert "fail_on= takes 'error', 'warning' or None" in out
