import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures", "static")


@pytest.fixture
def run_cli(tmp_path, monkeypatch):
    """Invoke the CLI in-process; returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from freezelint.cli import main

    def run(*args, input=None, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        runner = CliRunner()
        res = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    return run
