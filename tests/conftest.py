import pytest


@pytest.fixture(autouse=True)
def _cache_in_a_temporary_folder(tmp_path_factory, monkeypatch):
    """No test writes a result cache into the repository: every run of `check`
    caches in a fresh temporary folder unless the test says otherwise."""
    from freezelint.static.run.cache import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path_factory.mktemp("freezelint-cache")))


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
