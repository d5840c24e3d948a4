import pytest


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
