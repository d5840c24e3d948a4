"""`freezelint run`: the script runs as `python SCRIPT` would, exit codes, bad input, formats, intent sources."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.runtime.run_support import run, variant

torch = pytest.importorskip("torch")

SHOW = textwrap.dedent(
    """
    import json, os, sys
    print(json.dumps({"name": __name__, "argv": sys.argv, "path0": os.path.realpath(sys.path[0]),
                      "file": __file__, "main_is_me": sys.modules["__main__"].__dict__ is globals()}))
    sys.exit(int(os.environ.get("EXIT", "0")))
    """
)

LOOP = textwrap.dedent(
    """
    import torch
    from torch import nn
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for i in range(4):
        print("step", i)
        opt.zero_grad(); model(torch.randn(2, 4)).sum().backward(); opt.step()
    """
)


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return name


def test_script_sees_what_python_gives_it(tmp_path):
    _write(tmp_path, "show.py", SHOW)
    (tmp_path / "sub").mkdir()
    mine = run(["show.py", "a", "--flag", "-m"], tmp_path)
    plain = run(["show.py", "a", "--flag", "-m"], tmp_path, freezelint=False)
    assert json.loads(mine.stdout.splitlines()[0]) == json.loads(plain.stdout.splitlines()[0])
    assert json.loads(mine.stdout.splitlines()[0])["main_is_me"] is True


def test_module_runs_as_python_dash_m(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "show.py").write_text(SHOW)
    mine = run(["-m", "pkg.show", "x"], tmp_path)
    plain = run(["-m", "pkg.show", "x"], tmp_path, freezelint=False)
    a, b = json.loads(mine.stdout.splitlines()[0]), json.loads(plain.stdout.splitlines()[0])
    assert a == b and a["argv"][1:] == ["x"]


def test_system_exit_code_passes_through(tmp_path):
    _write(tmp_path, "show.py", SHOW)
    p = run(["show.py"], tmp_path, env={"EXIT": "3"})
    assert p.returncode == 3
    assert "no optimizer step ran: nothing audited" in p.stderr


@pytest.mark.parametrize("args,says", [
    (["nope.py"], "can't open file 'nope.py'"),
    (["-m", "no_such_module_xyz"], "no module named 'no_such_module_xyz'"),
    ([], "missing SCRIPT"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, says):
    p = run(args, tmp_path)
    assert p.returncode == 2
    assert says in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_script_raising_before_any_step(tmp_path):
    _write(tmp_path, "boom.py", "import torch\ndef f():\n    raise ValueError('bad config')\nf()\n")
    p = run(["boom.py"], tmp_path)
    assert p.returncode == 1
    assert "Traceback (most recent call last)" in p.stderr and "ValueError: bad config" in p.stderr
    assert 'boom.py", line 4' in p.stderr and "run_script.py" not in p.stderr
    assert p.stderr.strip().endswith("no optimizer step ran: nothing audited")


def test_script_raising_after_an_audit_keeps_its_exit_code_and_the_report(tmp_path):
    _write(tmp_path, "late.py", LOOP + "raise SystemExit(4)\n")
    p = run(["late.py"], tmp_path)
    assert p.returncode == 4
    assert "audited first step of SGD" in p.stdout


def test_stop_ends_the_run_after_the_audit(tmp_path):
    _write(tmp_path, "loop.py", LOOP + "print('the end')\n")
    p = run(["--stop", "loop.py"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "step 1" in p.stdout and "step 3" not in p.stdout and "the end" not in p.stdout
    assert "All checks passed!" in p.stderr


def test_stop_with_a_mistake_exits_1(tmp_path):
    variant("plain_loop.py", "mistake", tmp_path)
    p = run(["--stop", "plain_loop.py"], tmp_path)
    assert p.returncode == 1 and "FRZ504" in p.stdout and "script finished" not in p.stdout


def test_training_is_bit_identical_with_and_without_freezelint_run(tmp_path):
    variant("plain_loop.py", "correct", tmp_path)
    plain = run(["plain_loop.py"], tmp_path, freezelint=False, env={"FREEZELINT_OUT": "plain.pt"})
    audited = run(["--steps", "2", "plain_loop.py"], tmp_path, env={"FREEZELINT_OUT": "audited.pt"})
    assert plain.returncode == 0 and audited.returncode == 0, audited.stderr
    assert audited.stdout.count("audited ") >= 2  # the first step and later ones were audited
    a, b = torch.load(tmp_path / "plain.pt"), torch.load(tmp_path / "audited.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], torch.load(tmp_path / "plain.pt")[k] * 0 + 1) for k in a)  # weights, not ones


def test_command_line_selectors_join_the_intent(tmp_path):
    _write(tmp_path, "loop.py", LOOP)
    p = run(["--frozen", "0", "loop.py"], tmp_path)
    assert p.returncode == 1 and "FRZ504" in p.stdout  # layer 0 was never frozen


def test_pyproject_audit_section(tmp_path):
    _write(tmp_path, "loop.py", LOOP)
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint.audit]\nfrozen = ["0"]\n')
    p = run(["loop.py"], tmp_path)
    assert p.returncode == 1 and "FRZ504" in p.stdout
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint.audit]\nfrozne = ["0"]\n')
    p = run(["loop.py"], tmp_path)
    assert p.returncode == 2 and "unknown key in [tool.freezelint.audit]: frozne" in p.stderr


def test_no_static_ignores_the_code_s_declarations(tmp_path):
    variant("plain_loop.py", "correct", tmp_path)
    p = run(["--no-static", "plain_loop.py"], tmp_path)
    assert p.returncode == 0 and "declared frozen" not in p.stdout


@pytest.mark.parametrize("fmt,needle", [("json", '"code": "FRZ504"'), ("sarif", '"ruleId": "FRZ504"'), ("github", "::error title=freezelint (FRZ504)")])
def test_formats_and_output_file(tmp_path, fmt, needle):
    variant("plain_loop.py", "mistake", tmp_path)
    p = run(["--output-format", fmt, "-o", "out.txt", "plain_loop.py"], tmp_path)
    assert p.returncode == 1
    out = (tmp_path / "out.txt").read_text()
    assert needle in out and "FRZ504" not in p.stdout
    if fmt != "github":
        json.loads(out)


def test_html_report_is_written(tmp_path):
    variant("plain_loop.py", "mistake", tmp_path)
    p = run(["--html", "report.html", "plain_loop.py"], tmp_path)
    assert p.returncode == 1
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'data-module="backbone"' in page and "FRZ504" in page


def test_under_a_launcher_rank_0_prints_and_other_ranks_only_set_the_exit_code(tmp_path):
    script = variant("plain_loop.py", "mistake", tmp_path)
    rank0 = run([script], tmp_path, env={"RANK": "0", "WORLD_SIZE": "2"})
    rank1 = run([script], tmp_path, env={"RANK": "1", "WORLD_SIZE": "2"})
    assert rank0.returncode == 1 and "FRZ504" in rank0.stdout
    assert rank1.returncode == 1 and "FRZ" not in rank1.stdout
    assert "rank 1:" in rank1.stderr and "printed by rank 0" in rank1.stderr
    clean = run([variant("plain_loop.py", "correct", tmp_path)], tmp_path, env={"RANK": "1", "WORLD_SIZE": "2"})
    assert clean.returncode == 0 and "rank 1" not in clean.stderr
