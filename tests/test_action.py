"""The GitHub Action (action.yml): its inputs reach the script, and the script runs
freezelint with annotations and passes its exit code on."""

import os
import subprocess
import sys

import pytest

from cli_support import BAD, GOOD, ROOT

yaml = pytest.importorskip("yaml")  # PyYAML comes with pre-commit (the dev extra)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import github_action  # noqa: E402

sys.path.pop(0)
SCRIPT = os.path.join(ROOT, "scripts", "github_action.py")


def test_action_yml_passes_every_input_to_the_script():
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as fh:
        action = yaml.safe_load(fh)
    assert action["runs"]["using"] == "composite"
    (step,) = action["runs"]["steps"]
    assert "scripts/github_action.py" in step["run"] and step["shell"] == "bash"
    for name in action["inputs"]:
        var = "INPUT_" + name.upper().replace("-", "_")
        assert step["env"][var] == "${{ inputs.%s }}" % name
    assert step["env"]["FREEZELINT_ACTION_PATH"] == "${{ github.action_path }}"


def test_check_command_defaults_and_quoting():
    env = {"INPUT_ARGS": "check --select ALL", "INPUT_SRC": "src 'my tests'", "INPUT_INSTALL": "none"}
    assert github_action.check_command(env, ["freezelint"]) == [
        "freezelint", "check", "--select", "ALL", "--output-format", "github", "src", "my tests",
    ]
    env = {"INPUT_ARGS": "check --output-format=sarif -o out.sarif"}
    assert github_action.check_command(env, ["fl"]) == ["fl", "check", "--output-format=sarif", "-o", "out.sarif", "."]


def test_install_commands():
    env = {"RUNNER_TEMP": "/runner/tmp", "FREEZELINT_ACTION_PATH": "/actions/freezelint", "INPUT_PIP_ARGS": "--index-url https://x"}
    venv, pip = github_action.install_commands(env)
    assert venv[-2:] == ["venv", "/runner/tmp/freezelint-venv"]
    assert pip[0] == "/runner/tmp/freezelint-venv/bin/python"
    assert pip[-3:] == ["--index-url", "https://x", "/actions/freezelint"]  # default: the action's own checkout
    assert github_action.install_commands({"INPUT_INSTALL": "None"}) == []
    spec = "freezelint @ git+https://example.org/freezelint@v0.1.0"
    assert github_action.install_commands({"INPUT_INSTALL": spec})[1][-1] == spec


def _run_script(tmp_path, **inputs):
    env = dict(os.environ, INPUT_INSTALL="none", RUNNER_TEMP=str(tmp_path / "runner"), FREEZELINT_ACTION_PATH=ROOT)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update({"INPUT_" + k.upper(): v for k, v in inputs.items()})
    return subprocess.run([sys.executable, SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_script_annotates_findings_and_fails(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(BAD)
    res = _run_script(tmp_path, src="src")
    assert res.returncode == 1, res.stderr
    assert "::error file=src/train.py,line=4,col=1," in res.stdout and "title=freezelint (FRZ001)" in res.stdout


def test_script_passes_on_clean_code(tmp_path):
    (tmp_path / "train.py").write_text(GOOD)
    res = _run_script(tmp_path)
    assert res.returncode == 0 and "::error" not in res.stdout


@pytest.mark.slow  # creates a real venv
def test_script_reports_a_failed_install(tmp_path):
    res = _run_script(tmp_path, install=str(tmp_path / "no-such-project"), pip_args="--no-index")
    assert res.returncode != 0 and "::error title=freezelint::installing freezelint failed" in res.stdout
