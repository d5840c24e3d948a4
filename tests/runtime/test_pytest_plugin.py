"""The `freeze_audit` fixture, through a real pytest run."""

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest



def _plugin_args():
    eps = importlib.metadata.entry_points(group="pytest11")
    installed = any(ep.value == "freezelint.runtime.pytest_plugin" for ep in eps)
    return [] if installed else ["-p", "freezelint.runtime.pytest_plugin"]


TEST_FILE = '''
import torch
from torch import nn


def setup(mistake):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    if mistake:
        model[0].requires_grad = False
    else:
        model[0].requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(6, 4), torch.randint(0, 2, (6,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return model, opt, step


def test_good(freeze_audit):
    report = freeze_audit(*setup(False), frozen=["0"])
    assert report.findings == []


def test_bad(freeze_audit):
    freeze_audit(*setup(True), frozen=["0"])


def test_bad_but_not_failing(freeze_audit):
    report = freeze_audit(*setup(True), frozen=["0"], fail_on=None)
    assert report.codes == ["FRZ504"]
'''


@pytest.mark.slow
def test_fixture_fails_with_findings_printed_like_the_cli(tmp_path):
    (tmp_path / "test_user.py").write_text(TEST_FILE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args(), str(tmp_path / "test_user.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "1 failed, 2 passed" in out
    assert "FAILED test_user.py::test_bad" in out
    assert "0: FRZ504 declared frozen but requires_grad=True (2 parameters): `model[0].requires_grad = False`" in out
    assert "trainable params: 30 || frozen params: 0" in out
    assert "Traceback" not in out  # pytrace=False: the findings, not our internals


def test_plugin_module_does_not_import_torch():
    code = textwrap.dedent("""
        import sys
        import freezelint.runtime.pytest_plugin, freezelint.runtime.codes, freezelint.runtime.cli_audit
        assert "torch" not in sys.modules, "torch imported"
        assert "libcst" not in sys.modules, "libcst imported"
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
