"""The `freezelint check` command as users run it: exit codes, formats, selection, noqa."""

import json
import os
import subprocess
import sys

import pytest

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
GOOD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad_(False)\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path


def test_findings_exit_1_and_text_format(run_cli, project):
    code, out, err = run_cli("check", str(project))
    assert code == 1
    assert out.splitlines() == [
        f"{project / 'bad.py'}:4:1: FRZ001 [*] `model.requires_grad = False` sets a plain attribute on an "
        "nn.Module and freezes nothing; use `model.requires_grad_(False)`"
    ]
    assert "Found 1 error." in err and "1 fixable" in err


def test_clean_exit_0(run_cli, project):
    code, out, err = run_cli("check", str(project / "good.py"))
    assert (code, out) == (0, "")
    assert "All checks passed!" in err


def test_exit_zero_and_quiet(run_cli, project):
    code, out, err = run_cli("check", str(project), "--exit-zero", "--quiet")
    assert code == 0 and "FRZ001" in out and err == ""


def test_missing_path_is_usage_error(run_cli, tmp_path):
    code, out, err = run_cli("check", str(tmp_path / "nope"))
    assert code == 2
    assert err.strip() == f"freezelint: error: {tmp_path / 'nope'}: no such file or directory"


def test_folder_without_python_files(run_cli, tmp_path):
    (tmp_path / "notes.txt").write_text("model.requires_grad = False\n")
    code, out, err = run_cli("check", str(tmp_path))
    assert (code, out) == (0, "")


def test_unknown_code_names_it(run_cli, project):
    code, out, err = run_cli("check", str(project), "--select", "FRZ999")
    assert code == 2 and "`FRZ999`" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--select", "FRZ002"], 0),
        (["--select", "FRZ0"], 1),
        (["--select", "ALL"], 1),
        (["--ignore", "FRZ001"], 0),
        (["--ignore", "FRZ0", "--extend-select", "FRZ001"], 1),  # the more specific selector wins
        (["--select", "FRZ001", "--ignore", "FRZ001"], 0),
    ],
)
def test_select_ignore(run_cli, project, args, expect):
    code, out, err = run_cli("check", str(project), *args)
    assert code == expect, (out, err)


def test_json_format(run_cli, project):
    code, out, _ = run_cli("check", str(project), "--output-format", "json")
    data = json.loads(out)
    assert code == 1 and len(data) == 1
    item = data[0]
    assert item["code"] == "FRZ001"
    assert item["name"] == "module-requires-grad-attribute"
    assert item["filename"] == str(project / "bad.py")
    assert item["location"] == {"row": 4, "column": 1}
    assert item["end_location"] == {"row": 4, "column": 20}
    assert item["severity"] == "error"
    assert item["fix"]["applicability"] == "safe"
    assert item["fix"]["edits"] == [
        {
            "content": "model.requires_grad_(False)",
            "location": {"row": 4, "column": 1},
            "end_location": {"row": 4, "column": 28},
        }
    ]
    assert "url" in item


def test_sarif_format(run_cli, project):
    code, out, _ = run_cli("check", str(project), "--output-format", "sarif")
    doc = json.loads(out)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "FRZ001" in rule_ids and "FRZ007" in rule_ids
    (result,) = run["results"]
    assert result["ruleId"] == "FRZ001" and rule_ids[result["ruleIndex"]] == "FRZ001"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (4, 1)


def test_github_format(run_cli, project):
    code, out, _ = run_cli("check", str(project), "--output-format", "github")
    assert out.startswith(
        f"::error file={project / 'bad.py'},line=4,col=1,endLine=4,endColumn=20,title=freezelint (FRZ001)::"
    )


def test_output_file_and_statistics(run_cli, project, tmp_path):
    target = tmp_path / "report.json"
    code, out, _ = run_cli("check", str(project), "--output-format", "json", "-o", str(target))
    assert code == 1 and out == ""
    assert json.loads(target.read_text())[0]["code"] == "FRZ001"
    code, out, _ = run_cli("check", str(project), "--statistics")
    assert out.split() == ["1", "FRZ001", "[*]", "module-requires-grad-attribute"]


def test_noqa(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "import torch.nn as nn\n"
        "a = nn.Linear(1, 1)\n"
        "a.requires_grad = False  # noqa: FRZ001\n"
        "a.requires_grad = False  # noqa: FRZ002\n"
        "a.requires_grad = False  # noqa\n"
        "a.requires_grad = False  # NOQA:FRZ005,FRZ001\n"
        "s = '# noqa'; a.requires_grad = False\n"
    )
    code, out, _ = run_cli("check", str(f))
    assert [line.split(":")[1] for line in out.splitlines()] == ["4", "7"]


def test_noqa_on_first_line_of_multiline_statement(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "import torch.nn as nn\n"
        "a = nn.Linear(1, 1)\n"
        "a.requires_grad = (  # noqa: FRZ001\n"
        "    False\n"
        ")\n"
    )
    assert run_cli("check", str(f))[0] == 0


def test_file_level_noqa(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text("# freezelint: noqa: FRZ001\n" + BAD + "model.requires_grad_ = False\n")
    code, out, _ = run_cli("check", str(f))
    assert [line.split(": ")[1].split()[0] for line in out.splitlines()] == ["FRZ002"]
    f.write_text("# freezelint: noqa\n" + BAD)
    assert run_cli("check", str(f))[0] == 0


def test_syntax_error_is_frz000_and_others_still_linted(run_cli, project):
    (project / "broken.py").write_text("def f(:\n    pass\n")
    code, out, err = run_cli("check", str(project))
    assert code == 2
    lines = out.splitlines()
    assert lines[0].startswith(f"{project / 'bad.py'}:4:1: FRZ001")
    assert lines[1].startswith(f"{project / 'broken.py'}:1:") and "FRZ000 syntax error" in lines[1]


def test_not_utf8_is_frz000(run_cli, tmp_path):
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9t\xe9'\nmodel.requires_grad = False\n")
    code, out, _ = run_cli("check", str(tmp_path))
    assert code == 2 and "FRZ000 not valid UTF-8" in out and ":1:1:" in out


def test_empty_file(run_cli, tmp_path):
    (tmp_path / "empty.py").write_text("")
    assert run_cli("check", str(tmp_path))[:2] == (0, "")


def test_stdin(run_cli):
    code, out, _ = run_cli("check", "-", "--stdin-filename", "train.py", input=BAD)
    assert code == 1 and out.startswith("train.py:4:1: FRZ001")


def test_stdin_fix_prints_fixed_source(run_cli):
    code, out, err = run_cli("check", "-", "--fix", input=BAD)
    assert out == GOOD
    assert code == 0 and "Fixed 1." in err


def test_fix_writes_and_second_run_changes_nothing(run_cli, project):
    code, out, err = run_cli("check", str(project), "--fix")
    assert code == 0 and (project / "bad.py").read_text() == GOOD
    before = (project / "bad.py").stat().st_mtime_ns
    code, out, err = run_cli("check", str(project), "--fix")
    assert code == 0 and (project / "bad.py").stat().st_mtime_ns == before


def test_fix_exits_1_when_findings_remain(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD + "import torch\ntorch.no_grad()\n")
    code, out, err = run_cli("check", str(f), "--fix")
    assert code == 1 and "FRZ007" in out and "FRZ001" not in out
    assert "model.requires_grad_(False)" in f.read_text()


def test_unsafe_fixes_need_the_flag(run_cli, tmp_path):
    f = tmp_path / "m.py"
    src = "import torch\nw = torch.zeros(3, require_grad=True)\n"
    f.write_text(src)
    run_cli("check", str(f), "--fix")
    assert f.read_text() == src
    run_cli("check", str(f), "--fix", "--unsafe-fixes")
    assert f.read_text() == "import torch\nw = torch.zeros(3, requires_grad=True)\n"


def test_diff_does_not_write(run_cli, project):
    code, out, _ = run_cli("check", str(project / "bad.py"), "--diff")
    assert code == 1
    assert "-model.requires_grad = False\n+model.requires_grad_(False)\n" in out
    assert (project / "bad.py").read_text() == BAD


def test_fix_keeps_bom_and_crlf(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_bytes(b"\xef\xbb\xbf" + BAD.replace("\n", "\r\n").encode())
    code, _, _ = run_cli("check", str(f), "--fix")
    assert code == 0
    assert f.read_bytes() == b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode()


def test_fix_keeps_permissions(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    os.chmod(f, 0o640)
    run_cli("check", str(f), "--fix")
    assert f.read_text() == GOOD and (os.stat(f).st_mode & 0o777) == 0o640


def test_rules_and_explain(run_cli):
    code, out, _ = run_cli("rules")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("FRZ001"))
    assert row.split() == ["FRZ001", "module-requires-grad-attribute", "static", "on", "safe"]
    code, out, _ = run_cli("explain", "frz001")
    assert code == 0 and "## Why is this bad?" in out and "requires_grad_(False)" in out
    code, _, err = run_cli("explain", "FRZ999")
    assert code == 2 and "FRZ999" in err


def test_gitignore_and_default_excludes(run_cli, tmp_path):
    (tmp_path / ".gitignore").write_text("generated/\n")
    for folder in ("generated", ".venv", "build", "src"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.py").write_text(BAD)
    code, out, _ = run_cli("check", str(tmp_path))
    assert {line.split(":")[0] for line in out.splitlines()} == {str(tmp_path / "src" / "m.py")}
    # named explicitly, a default-excluded file is linted
    code, out, _ = run_cli("check", str(tmp_path / "build" / "m.py"))
    assert code == 1


def test_output_is_sorted_and_deterministic(run_cli, tmp_path):
    for name in ("b.py", "a.py", "c.py"):
        (tmp_path / name).write_text(BAD + "model.requires_grad_ = False\n")
    runs = [run_cli("check", str(tmp_path), "-j", "2")[1] for _ in range(2)]
    assert runs[0] == runs[1]
    keys = [(line.split(":")[0], int(line.split(":")[1])) for line in runs[0].splitlines()]
    assert keys == sorted(keys) and len(keys) == 6


def test_many_files_in_parallel_match_serial(run_cli, tmp_path):
    for i in range(40):
        (tmp_path / f"m{i:02}.py").write_text(BAD if i % 3 else GOOD)
    serial = run_cli("check", str(tmp_path), "-j", "1")
    parallel = run_cli("check", str(tmp_path), "-j", "2")
    assert serial[:2] == parallel[:2] and serial[1].count("FRZ001") == 26


def test_static_cli_never_imports_torch(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    code = (
        "import sys\n"
        "from freezelint.cli import main\n"
        f"try:\n    main(['check', {str(f)!r}, '-q'])\nexcept SystemExit as e:\n    rc = e.code\n"
        "assert rc == 1, rc\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "False"


def test_module_entry_point(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    res = subprocess.run([sys.executable, "-m", "freezelint", "check", str(f)], capture_output=True, text=True)
    assert res.returncode == 1 and "FRZ001" in res.stdout and "Traceback" not in res.stderr


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_noqa_with_any_line_ending(run_cli, tmp_path, newline):
    f = tmp_path / "m.py"
    lines = ["import torch.nn as nn", "a = nn.Linear(1, 1)", "a.requires_grad = False  # noqa: FRZ001", "a.requires_grad = False", ""]
    f.write_bytes(newline.join(lines).encode())
    code, out, _ = run_cli("check", str(f), "--no-cache")
    assert [line.split(":")[1] for line in out.splitlines()] == ["4"]
