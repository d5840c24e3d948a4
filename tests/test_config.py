"""[tool.freezelint] in pyproject.toml: options, precedence, and one-line errors."""

import pytest

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\nmodel.requires_grad_ = False\n"


def _write(tmp_path, config, files=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(config)
    for name, text in (files or {"m.py": BAD}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def _codes(out):
    return sorted(line.split(": ")[1].split()[0] for line in out.splitlines())


def test_select_and_ignore_from_config(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\nselect = ["FRZ002"]\n')
    assert _codes(run_cli("check", str(tmp_path))[1]) == ["FRZ002"]
    _write(tmp_path, '[tool.freezelint]\nignore = ["FRZ002"]\n')
    assert _codes(run_cli("check", str(tmp_path))[1]) == ["FRZ001"]


def test_cli_select_wins_over_config(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\nselect = ["FRZ002"]\n')
    assert _codes(run_cli("check", str(tmp_path), "--select", "FRZ001")[1]) == ["FRZ001"]


def test_per_file_ignores(run_cli, tmp_path):
    _write(
        tmp_path,
        '[tool.freezelint]\nper-file-ignores = { "tests/*" = ["FRZ0"] }\n',
        {"tests/t.py": BAD, "src/m.py": BAD},
    )
    out = run_cli("check", str(tmp_path))[1]
    assert {line.split(":")[0] for line in out.splitlines()} == {str(tmp_path / "src" / "m.py")}


def test_extend_exclude(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\nextend-exclude = ["legacy"]\n', {"legacy/old.py": BAD, "new.py": BAD})
    out = run_cli("check", str(tmp_path))[1]
    assert {line.split(":")[0] for line in out.splitlines()} == {str(tmp_path / "new.py")}


def test_output_format_from_config(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\noutput-format = "github"\n')
    assert run_cli("check", str(tmp_path))[1].startswith("::error ")


def test_nearest_config_applies(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\nselect = ["FRZ002"]\n', {"a.py": BAD})
    _write(tmp_path / "sub", '[tool.freezelint]\nselect = ["FRZ001"]\n', {"b.py": BAD})
    out = run_cli("check", str(tmp_path))[1]
    assert sorted((line.split(":")[0].rsplit("/", 1)[-1], line.split(": ")[1][:6]) for line in out.splitlines()) == [
        ("a.py", "FRZ002"),
        ("b.py", "FRZ001"),
    ]


def test_pyproject_without_table_is_skipped(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\nselect = ["FRZ002"]\n')
    _write(tmp_path / "pkg", '[project]\nname = "x"\n', {"c.py": BAD})
    out = run_cli("check", str(tmp_path / "pkg"))[1]
    assert _codes(out) == ["FRZ002"]


@pytest.mark.parametrize(
    "config, words",
    [
        ('[tool.freezelint]\nselct = ["FRZ001"]\n', ["unknown key `selct`"]),
        ('[tool.freezelint]\nselect = "FRZ001"\n', ["`select` must be a list of strings"]),
        ('[tool.freezelint]\nselect = ["FRZ9"]\n', ["`select`", "unknown rule selector `FRZ9`"]),
        ('[tool.freezelint]\nper-file-ignores = { "a/[*.py" = ["FRZ001"] }\n', ["invalid glob pattern"]),
        ('[tool.freezelint]\noutput-format = "xml"\n', ["`output-format` must be one of"]),
        ('[tool.freezelint]\nmax-file-size = -1\n', ["`max-file-size` must be a positive integer"]),
        ("[tool.freezelint\nselect = 1\n", ["invalid TOML"]),
        ('[tool]\nfreezelint = 3\n', ["[tool.freezelint] must be a table"]),
    ],
)
def test_malformed_config_is_one_line_exit_2(run_cli, tmp_path, config, words):
    _write(tmp_path, config)
    code, out, err = run_cli("check", str(tmp_path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / "pyproject.toml") in lines[0]
    for w in words:
        assert w in lines[0]


def test_isolated_ignores_config(run_cli, tmp_path):
    _write(tmp_path, '[tool.freezelint]\nselct = 1\n')
    assert run_cli("check", str(tmp_path), "--isolated")[0] == 1


def test_max_file_size(run_cli, tmp_path):
    _write(tmp_path, "[tool.freezelint]\nmax-file-size = 20\n")
    code, out, _ = run_cli("check", str(tmp_path))
    assert code == 2 and "FRZ000 file is" in out and "max-file-size" in out
