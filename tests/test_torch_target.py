"""The project's torch version: read from its requirement files, overridden by `target-torch-version`."""


import pytest

from static_support import lint_findings
from freezelint.config import ConfigError, settings_from_table
from freezelint.static.semantic.project import ProjectIndex
from freezelint.static.input.torch_target import newest_allowed, parse_version, project_torch_max


@pytest.mark.parametrize(
    "spec, newest",
    [
        ("==1.13.1", (1, 13)),
        (">=1.8,<2.0", (1, 999)),
        ("<2", (1, 999)),
        ("~=1.12", (1, 999)),
        ("~=1.12.0", (1, 12)),
        ("<=1.13.1", (1, 13)),
        ("<2.1", (2, 0)),
        ("==1.13.*", (1, 13)),
        (">=1.8", None),
        (">=2.0,!=2.1.0", None),
    ],
)
def test_newest_allowed(spec, newest):
    assert newest_allowed(spec) == newest


@pytest.mark.parametrize(
    "name, text, newest",
    [
        ("requirements.txt", "numpy\ntorch==1.12.1\ntorchvision==0.13.1\n", (1, 12)),
        ("pyproject.toml", '[project]\ndependencies = ["torch>=1.8,<2.0", "torchmetrics>=0.7"]\n', (1, 999)),
        ("setup.py", "setup(install_requires=['torch >= 1.9', 'torchvision'])\n", None),
        ("environment.yaml", "dependencies:\n  - pytorch=1.12.1\n  - torchvision=0.13.1\n", (1, 12)),
        ("requirements.txt", "torchvision==0.13.1\ntorchaudio<2\n", None),  # other packages, not torch
    ],
)
def test_project_torch_max_reads_requirement_files(tmp_path, name, text, newest):
    (tmp_path / name).write_text(text)
    assert project_torch_max(str(tmp_path)) == newest


def test_strictest_file_wins_and_override_beats_files(tmp_path):
    (tmp_path / "setup.py").write_text("install_requires=['torch>=1.8']\n")
    (tmp_path / "requirements-dev.txt").write_text("torch==1.13.1\n")
    assert ProjectIndex.build([], root=str(tmp_path)).torch_max == (1, 13)
    assert ProjectIndex.build([], root=str(tmp_path), torch_version=(2, 1)).torch_max == (2, 1)


def test_torch_version_changes_the_project_digest(tmp_path):
    plain = ProjectIndex.build([], root=str(tmp_path))
    old = ProjectIndex.build([], root=str(tmp_path), torch_version=(1, 13))
    assert plain.digest != old.digest and old.torch_before(2, 0) and not plain.torch_before(2, 0)


def test_config_key(tmp_path):
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("")
    assert settings_from_table({"target-torch-version": "1.13"}, cfg).target_torch_version == (1, 13)
    assert parse_version("2") == (2, 0)
    with pytest.raises(ConfigError, match="target-torch-version"):
        settings_from_table({"target-torch-version": "latest"}, cfg)


_PLAIN_ZERO_GRAD = """\
import torch
def train(model, loader):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(3):
        if epoch == 1:
            model.stem.requires_grad_(False)
        for x in loader:
            model(x).sum().backward()
            opt.step()
            opt.zero_grad()
"""


def test_plain_zero_grad_is_flagged_only_before_torch_2():
    new = lint_findings(_PLAIN_ZERO_GRAD, "FRZ201,FRZ202")
    old = lint_findings(_PLAIN_ZERO_GRAD, "FRZ201,FRZ202", torch_version=(1, 13))
    assert [(f.code, f.severity.value) for f in new] == [("FRZ201", "warning")]
    assert [(f.code, f.severity.value) for f in old] == [("FRZ201", "error"), ("FRZ202", "warning")]
    assert "can move" in old[0].message and "can move" not in new[0].message


def test_cli_reads_requirements(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from freezelint.cli import main

    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "requirements.txt").write_text("torch==1.10.0\n")
    (tmp_path / "train.py").write_text(_PLAIN_ZERO_GRAD)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["check", "--select", "FRZ202", "--no-cache", "train.py"])
    assert "FRZ202" in out.output
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n[tool.freezelint]\ntarget-torch-version = '2.1'\n")
    out = CliRunner().invoke(main, ["check", "--select", "FRZ202", "--no-cache", "train.py"])
    assert "FRZ202" not in out.output and out.exit_code == 0
