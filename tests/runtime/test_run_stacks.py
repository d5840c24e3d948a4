"""`freezelint run` on small real scripts, each a freezing mistake and its correct twin, run as subprocesses
exactly as a user runs them: the mistake is caught (exit 1, its code printed), the twin passes (exit 0)
and both scripts run to their end."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.runtime.run_support import run, variant

pytest.importorskip("torch")

# script, the code its mistake must give, the library it needs
CASES = [
    ("plain_loop.py", "FRZ504", None),
    ("mid_training.py", "FRZ505", None),
    ("accelerate_loop.py", "FRZ502", "accelerate"),
    ("compiled_model.py", "FRZ505", None),
    ("hf_trainer.py", "FRZ504", "transformers"),
    ("lightning_fit.py", "FRZ503", "lightning"),
]


def _needs(lib):
    if lib is not None and importlib.util.find_spec(lib) is None:
        pytest.skip(f"{lib} is not installed")


def _compile_ok():
    import torch

    try:
        torch.compile(torch.nn.Linear(2, 2), backend="eager")(torch.ones(1, 2))
    except Exception as e:  # pragma: no cover - depends on the platform
        pytest.skip(f"torch.compile is unavailable here: {e}")


@pytest.mark.parametrize("script,code,lib", CASES, ids=[c[0][:-3] for c in CASES])
def test_mistake_is_caught(tmp_path, script, code, lib):
    _needs(lib)
    if script == "compiled_model.py":
        _compile_ok()
    variant(script, "mistake", tmp_path)
    p = run([script], tmp_path)
    assert "script finished" in p.stdout, p.stderr[-3000:]
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-3000:]
    assert code in p.stdout
    assert "Found" in p.stderr and "error" in p.stderr


@pytest.mark.parametrize("script,code,lib", CASES, ids=[c[0][:-3] for c in CASES])
def test_correct_twin_passes(tmp_path, script, code, lib):
    _needs(lib)
    if script == "compiled_model.py":
        _compile_ok()
    variant(script, "correct", tmp_path)
    p = run(["--output-format", "json", "-o", "report.json", script], tmp_path)
    assert "script finished" in p.stdout, p.stderr[-3000:]
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    found = json.loads((tmp_path / "report.json").read_text())
    assert [f["code"] for f in found if f.get("severity", "error") == "error"] == []
    assert code not in {f["code"] for f in found}


def test_static_declaration_is_named_with_its_line(tmp_path):
    """A no-op freeze (FRZ101: eval() written as the freeze) is an error at run time, and the report
    says which line of the script declared it."""
    _needs("transformers")
    variant("hf_trainer.py", "mistake", tmp_path)
    p = run(["hf_trainer.py"], tmp_path)
    assert p.returncode == 1
    assert "declared frozen at hf_trainer.py:11" in p.stdout
    assert "FRZ101" in p.stdout


def test_mid_training_unfreeze_is_audited_at_the_step_after_the_change(tmp_path):
    variant("mid_training.py", "mistake", tmp_path)
    p = run(["mid_training.py"], tmp_path)
    assert "audited first step of SGD" in p.stdout
    assert "audited step 4 of SGD, the first after requires_grad or param groups changed" in p.stdout
