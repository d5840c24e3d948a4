"""Rule selection as ruff does it: a prefix in `ignore` removes the codes under it
from the default set; a selection that selects no static rule is refused."""

import pytest

from cli_support import BAD

TWO = BAD + "model.requires_grad_ = False\n"  # FRZ001 and FRZ002


def _codes(out):
    return sorted(line.split(": ")[1].split()[0] for line in out.splitlines())


@pytest.mark.parametrize("ignore", ["FRZ0", "FRZ00", "FRZ", "ALL"])
def test_ignore_prefix_removes_default_codes(run_cli, tmp_path, ignore):
    (tmp_path / "m.py").write_text(TWO)
    code, out, err = run_cli("check", str(tmp_path), "--ignore", ignore)
    assert (code, out) == (0, ""), err


def test_ignore_prefix_in_config(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint]\nignore = ["FRZ0"]\n')
    (tmp_path / "m.py").write_text(TWO)
    assert run_cli("check", str(tmp_path))[:2] == (0, "")


def test_more_specific_extend_select_beats_ignore_prefix(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(TWO)
    out = run_cli("check", str(tmp_path), "--ignore", "FRZ0", "--extend-select", "FRZ002")[1]
    assert _codes(out) == ["FRZ002"]


def test_comma_separated_ignore(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(TWO)
    assert _codes(run_cli("check", str(tmp_path), "--ignore", "FRZ001,FRZ1")[1]) == ["FRZ002"]


@pytest.mark.parametrize("select", ["FRZ5", "FRZ000", "FRZ501,FRZ502"])
def test_select_with_no_static_rule_is_refused(run_cli, tmp_path, select):
    (tmp_path / "m.py").write_text(BAD)
    code, out, err = run_cli("check", str(tmp_path), "--select", select)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "selects no static rule" in err and "Traceback" not in err


def test_config_select_with_no_static_rule_is_refused(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint]\nselect = ["FRZ5"]\n')
    (tmp_path / "m.py").write_text(BAD)
    code, _, err = run_cli("check", str(tmp_path))
    assert code == 2 and "selects no static rule" in err and "pyproject.toml" in err


def test_select_with_a_static_rule_still_runs(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    assert run_cli("check", str(tmp_path), "--select", "FRZ5", "--extend-select", "FRZ001")[0] == 1
