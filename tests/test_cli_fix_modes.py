"""--diff prints only the diff; --fix-only, --exit-non-zero-on-fix, --add-noqa;
a fix that cannot be applied is named, with the reason."""

from freezelint.findings import Applicability, Edit, Finding, Fix
from freezelint.static.fix.fixer import fix_text

from cli_support import BAD, GOOD

TWO = BAD + "model.requires_grad_ = False\n"
UNFIXABLE = "import torch\ntorch.no_grad()\n"  # FRZ007 has no fix


def test_diff_prints_only_the_diff(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    code, out, err = run_cli("check", "m.py", "--diff", cwd=tmp_path)
    assert code == 1
    assert out.startswith("--- a/m.py\n+++ b/m.py\n") and "FRZ001" not in out
    assert "Would fix 1 finding." in err and "Found" not in err
    assert (tmp_path / "m.py").read_text() == BAD


def test_diff_with_nothing_to_fix_exits_0(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(UNFIXABLE)
    code, out, err = run_cli("check", "m.py", "--diff", cwd=tmp_path)
    assert (code, out) == (0, "") and "No fixes would be applied." in err


def test_fix_only_fixes_and_does_not_report(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD + UNFIXABLE)
    code, out, err = run_cli("check", "m.py", "--fix-only", cwd=tmp_path)
    assert (code, out) == (0, "")  # FRZ007 remains, but --fix-only neither reports nor fails on it
    assert "Fixed 1 finding." in err and "model.requires_grad_(False)" in (tmp_path / "m.py").read_text()


def test_exit_non_zero_on_fix(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    assert run_cli("check", "m.py", "--fix", "--exit-non-zero-on-fix", cwd=tmp_path)[0] == 1
    assert (tmp_path / "m.py").read_text() == GOOD
    assert run_cli("check", "m.py", "--fix", "--exit-non-zero-on-fix", cwd=tmp_path)[0] == 0  # nothing left to fix
    (tmp_path / "m.py").write_text(BAD)
    assert run_cli("check", "m.py", "--fix-only", "--exit-non-zero-on-fix", cwd=tmp_path)[0] == 1
    assert run_cli("check", "m.py", "--fix", cwd=tmp_path)[0] == 0  # without the flag: clean after fixing


def test_add_noqa_is_idempotent_and_keeps_existing_codes(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "import torch.nn as nn\n"
        "model = nn.Linear(4, 2)\n"
        "model.requires_grad = False  # noqa: FRZ002\n"
        "model.requires_grad_ = False  # keep this comment\n"
        "model.requires_grad = False\r\n"
    )
    code, out, err = run_cli("check", "m.py", "--add-noqa", cwd=tmp_path)
    assert code == 0 and "Added 3 noqa directives." in err
    assert f.read_bytes().decode() == (
        "import torch.nn as nn\n"
        "model = nn.Linear(4, 2)\n"
        "model.requires_grad = False  # noqa: FRZ001, FRZ002\n"
        "model.requires_grad_ = False  # keep this comment  # noqa: FRZ002\n"
        "model.requires_grad = False  # noqa: FRZ001\r\n"
    )
    assert run_cli("check", "m.py", cwd=tmp_path)[0] == 0
    before = f.read_bytes()
    code, _, err = run_cli("check", "m.py", "--add-noqa", cwd=tmp_path)
    assert code == 0 and "Added 0 noqa directives." in err and f.read_bytes() == before


def test_add_noqa_with_fix_or_stdin_is_a_usage_error(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    code, _, err = run_cli("check", "m.py", "--add-noqa", "--fix", cwd=tmp_path)
    assert code == 2 and "--add-noqa cannot be combined" in err
    code, _, err = run_cli("check", "--add-noqa", "--stdin-filename", "m.py", input=BAD, cwd=tmp_path)
    assert code == 2 and "standard input" in err and (tmp_path / "m.py").read_text() == BAD


def _finding(line, col, end_col, content, message):
    edit = Edit(content, line, col, line, end_col)
    return Finding("FRZ001", "x", "msg", line=line, col=col, end_line=line, end_col=end_col,
                   fix=Fix(Applicability.SAFE, message, (edit,)))


def test_fix_text_names_a_fix_that_breaks_the_parse_and_keeps_the_others():
    text = "a = 1\nb = 2\n"

    def lint(t):
        out = []
        if "a = 1" in t:
            out.append(_finding(1, 5, 6, "(", "open a paren"))  # breaks the syntax
        if "b = 2" in t:
            out.append(_finding(2, 5, 6, "3", "two becomes three"))
        return out

    res = fix_text("m.py", text, lint, unsafe=False)
    assert res.text == "a = 1\nb = 3\n" and res.fixed == 1
    assert len(res.failures) == 1
    assert res.failures[0].startswith("m.py:1:5: FRZ001 fix (open a paren) not applied: the fixed text does not parse")


def test_cli_says_which_fix_failed_and_why(run_cli, tmp_path, monkeypatch):
    from freezelint.static.run import engine

    real = engine.lint_text

    def failing(path, text, *args, **kw):
        if "requires_grad_(" in text:  # the fixed text
            raise RuntimeError("boom")
        return real(path, text, *args, **kw)

    monkeypatch.setattr(engine, "lint_text", failing)
    (tmp_path / "m.py").write_text(BAD)
    code, out, err = run_cli("check", "m.py", "--fix", "--no-cache", cwd=tmp_path)
    assert code == 1 and (tmp_path / "m.py").read_text() == BAD
    assert "freezelint: warning: m.py:4:1: FRZ001 fix (" in err
    assert "not applied: linting the fixed text failed (RuntimeError: boom)" in err


def test_add_noqa_in_a_notebook_cell(run_cli, tmp_path):
    import json

    def cell(src):
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": src.splitlines(True)}

    nb = {
        "cells": [cell("import torch.nn as nn\n"), {"cell_type": "markdown", "metadata": {}, "source": ["# x"]},
                  cell("model = nn.Linear(4, 2)\nmodel.requires_grad = False")],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    code, out, err = run_cli("check", "nb.ipynb", "--output-format", "concise", cwd=tmp_path)
    assert code == 1 and out.startswith("nb.ipynb:cell 3:2:1: FRZ001")  # cells count markdown too, as in ruff
    code, _, err = run_cli("check", "nb.ipynb", "--add-noqa", cwd=tmp_path)
    assert code == 0 and "Added 1 noqa directive." in err
    cells = json.loads(path.read_text())["cells"]
    assert cells[2]["source"] == ["model = nn.Linear(4, 2)\n", "model.requires_grad = False  # noqa: FRZ001"]
    assert cells[0]["source"] == ["import torch.nn as nn\n"] and cells[1]["source"] == ["# x"]
    assert run_cli("check", "nb.ipynb", cwd=tmp_path)[0] == 0
