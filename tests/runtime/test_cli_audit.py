"""`freezelint audit MODULE:FUNCTION`: output formats, exit codes, one-line errors."""

import json
import os
import sys
import textwrap

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from freezelint.runtime.cli_audit import audit_command  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def audit(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)

    def run(*args):
        res = CliRunner().invoke(audit_command, list(args), catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    yield run
    for name in set(sys.modules) - modules:
        if name.startswith(("examples", "_freezelint_audit_", "userbuild")):
            del sys.modules[name]


def test_example_file_path_reports_the_mistake(audit):
    code, out, err = audit("examples/audit_example.py:build")
    assert code == 1
    assert out.startswith("backbone: FRZ504 declared frozen but requires_grad=True (4 parameters): "
                          "`model.backbone.requires_grad = False` set a plain attribute")
    assert "0 | backbone | Sequential | train | 1.6 K" in out
    assert err.strip().endswith("Found 1 error.")


def test_example_module_form_fixed_version_passes(audit):
    code, out, err = audit("examples.audit_example:build_fixed")
    assert code == 0
    assert "trainable params: 132 || frozen params: 1,600" in out
    assert "All checks passed!" in err


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_machine_formats_keep_stdout_clean(audit, fmt):
    code, out, err = audit("examples/audit_example.py:build", "--output-format", fmt)
    assert code == 1
    if fmt == "json":
        (item,) = json.loads(out)
        assert (item["code"], item["object"], item["source"]) == ("FRZ504", "backbone", "runtime")
    elif fmt == "sarif":
        assert json.loads(out)["runs"][0]["results"][0]["ruleId"] == "FRZ504"
    else:
        assert out.startswith("::error title=freezelint (FRZ504)::backbone: declared frozen")
    assert "| Name" in err  # the summary table goes to stderr


def test_output_file(audit, tmp_path):
    target = tmp_path / "out.json"
    code, out, _ = audit("examples.audit_example:build", "--output-format", "json", "--output-file", str(target))
    assert code == 1 and out == ""
    assert json.loads(target.read_text())[0]["code"] == "FRZ504"


def write(tmp_path, body):
    path = tmp_path / "userbuild.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize("target, message", [
    ("examples.audit_example", "expected MODULE:FUNCTION"),
    ("no_such_module_xyz:build", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
    ("examples.audit_example:missing", "has no attribute 'missing'"),
    ("examples/nothing_here.py:build", "no such file: examples/nothing_here.py"),
])
def test_bad_targets_exit_2_with_one_line(audit, target, message):
    code, out, err = audit(target)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("freezelint: error: ")


@pytest.mark.parametrize("body, message", [
    ("def build():\n    return 42\n", "must return (model, optimizer, step)"),
    ("def build():\n    return (1, 2, 3)\n", "a model that is not a torch.nn.Module (int)"),
    ("import torch\ndef build():\n    return torch.nn.Linear(2, 2), None, 'x'\n", "a step that is not callable"),
    ("def build():\n    raise ValueError('no data')\n", "build() raised ValueError: no data"),
    ("raise ImportError('broken dep')\n", "ImportError: broken dep"),
    ("def build(:\n", "SyntaxError at line 1"),
    ("import torch\nm = torch.nn.Linear(2, 2)\ndef build():\n    return m, None, lambda: 1 / 0\n",
     "the step raised ZeroDivisionError: division by zero"),
    ("import torch\nm = torch.nn.Linear(2, 2)\ndef build():\n    return m, None, lambda: None, {'frozen': 3}\n",
     "frozen= takes dotted names"),
    ("import torch\nm = torch.nn.Linear(2, 2)\ndef build():\n    return m, None, lambda: None, {'freeze': []}\n",
     "unknown options: freeze"),
])
def test_bad_user_code_exit_2_without_traceback(audit, tmp_path, body, message):
    code, out, err = audit(write(tmp_path, body) + ":build")
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1
    assert message in err


def test_dict_return_and_warnings_exit_0(audit, tmp_path):
    path = write(tmp_path, """
        import torch
        from torch import nn

        def build():
            model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
            model[0].requires_grad_(False)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)  # holds the frozen layer: FRZ508, a warning
            x = torch.randn(8, 4)

            def step():
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()

            return {"model": model, "optimizer": opt, "step": step}
    """)
    code, out, err = audit(path + ":build")
    assert code == 0  # warnings only
    assert out.startswith("0: FRZ508 frozen but held by the optimizer")
    assert "Found 1 warning." in err  # was "Found 1 error." for a warning


def test_step_failure_with_findings_prints_them_and_exits_1(audit, tmp_path):
    path = write(tmp_path, """
        import torch
        from torch import nn

        def build():
            model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
            model[1] = nn.Linear(4, 2)
            model.requires_grad_(False)
            opt = torch.optim.SGD(model[1].parameters(), lr=0.1)

            def step():
                model(torch.randn(3, 4)).sum().backward()
                opt.step()

            return model, opt, step
    """)
    code, out, err = audit(path + ":build")
    assert code == 1
    assert "FRZ509" in out and "FRZ508" in out
    assert "freezelint: the step raised RuntimeError: element 0 of tensors does not require grad" in err


def test_ignore_option_for_an_ema_teacher(audit, tmp_path):
    path = write(tmp_path, """
        import copy
        import torch
        from torch import nn

        def build(ignore=True):
            torch.manual_seed(0)
            student = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
            model = nn.ModuleDict({"student": student, "teacher": copy.deepcopy(student)})
            model["teacher"].requires_grad_(False)
            opt = torch.optim.SGD(student.parameters(), lr=0.1)
            x = torch.randn(8, 4)

            def step():
                opt.zero_grad()
                student(x).sum().backward()
                opt.step()
                with torch.no_grad():
                    for t, s in zip(model["teacher"].parameters(), student.parameters()):
                        t.mul_(0.9).add_(s, alpha=0.1)

            return model, opt, step, ({"ignore": ["teacher"]} if ignore else {})

        def build_unmarked():
            return build(ignore=False)
    """)
    code, out, err = audit(path + ":build")
    assert code == 0 and "All checks passed!" in err
    code, out, err = audit(path + ":build_unmarked")
    assert code == 1 and "FRZ502" in out and "pass `ignore=[...]`" in out
