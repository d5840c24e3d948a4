"""What the project targets (`target-version`, else `requires-python`) words FRZ000
for syntax the Python running freezelint cannot parse."""

import sys

import pytest

NEWER = (3, sys.version_info[1] + 1)  # a Python newer than the one running the tests
NEWER_TAG = f"py3{NEWER[1]}"
# A syntax error the engine cannot tell from newer syntax
UNPARSABLE = "def f(:\n    pass\n"
HINT = f"the project targets Python 3.{NEWER[1]}"


def _frz000(out):
    (line,) = [line for line in out.splitlines() if "FRZ000" in line]
    return line


def test_requires_python_newer_than_the_running_python(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "p"\nrequires-python = ">=3.{NEWER[1]}"\n')
    (tmp_path / "m.py").write_text(UNPARSABLE)
    code, out, _ = run_cli("check", "m.py", cwd=tmp_path)
    assert code == 2 and HINT in _frz000(out) and f"run freezelint with Python 3.{NEWER[1]} or later" in out


def test_target_version_in_config_wins_over_requires_python(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "p"\nrequires-python = ">=3.8"\n\n[tool.freezelint]\ntarget-version = "{NEWER_TAG}"\n'
    )
    (tmp_path / "m.py").write_text(UNPARSABLE)
    assert HINT in _frz000(run_cli("check", "m.py", cwd=tmp_path)[1])


def test_target_version_flag(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(UNPARSABLE)
    assert HINT in _frz000(run_cli("check", "m.py", "--target-version", NEWER_TAG, cwd=tmp_path)[1])
    assert HINT in _frz000(run_cli("check", "-", "--target-version", NEWER_TAG, input=UNPARSABLE, cwd=tmp_path)[1])


def test_older_target_keeps_the_plain_message(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nrequires-python = ">=3.9, <4"\n')
    (tmp_path / "m.py").write_text(UNPARSABLE)
    line = _frz000(run_cli("check", "m.py", cwd=tmp_path)[1])
    assert "FRZ000 syntax error" in line and "targets" not in line


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="needs a Python without PEP 695 syntax")
def test_known_newer_syntax_is_explained_once(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nrequires-python = ">=3.12"\n')
    (tmp_path / "m.py").write_text("type Alias = int\n")
    line = _frz000(run_cli("check", "m.py", cwd=tmp_path)[1])
    assert "3.12" in line and line.count("freezelint runs on") == 1


@pytest.mark.parametrize("value", ["3.12", "py2", "python312", ""])
def test_bad_target_version_is_one_line(run_cli, tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f'[tool.freezelint]\ntarget-version = "{value}"\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    code, _, err = run_cli("check", "m.py", cwd=tmp_path)
    assert code == 2 and "target-version" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "spec, target",
    [(">=3.9", (3, 9)), (">=3.10,<4", (3, 10)), ("~=3.11", (3, 11)), ("==3.12.*", (3, 12)), (">3.8", (3, 8)), ("<4", None)],
)
def test_requires_python_lower_bound(spec, target):
    from freezelint.target_version import target_from_requires_python

    assert target_from_requires_python(spec) == target
