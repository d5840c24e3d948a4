"""Importing freezelint, its CLI and the static path never imports torch, Lightning or transformers."""

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "lightning", "pytorch_lightning", "transformers", "accelerate", "peft")


def _modules_after(code):
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        print("loaded:" + ",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def test_freezelint_cli_and_integrations_package_import_nothing_heavy():
    assert _modules_after("""
        import freezelint, freezelint.cli, freezelint.integrations, freezelint.runtime
        import freezelint.runtime.codes, freezelint.runtime.report, freezelint.runtime.pytest_plugin
        from freezelint.cli import main
        try:
            main(["check", "--help"])
        except SystemExit:
            pass
    """) == "loaded:"


@pytest.mark.slow
def test_each_integration_imports_its_own_trainer_only():
    pytest.importorskip("lightning.pytorch")
    pytest.importorskip("transformers")
    assert "lightning" in _modules_after("import freezelint.integrations.lightning")
    # (lightning itself may import transformers when it is installed: not asserted)
    loaded = _modules_after("import freezelint.integrations.transformers")[len("loaded:"):].split(",")
    assert "transformers" in loaded and "lightning" not in loaded and "pytorch_lightning" not in loaded
