"""FRZ112 answers for the transformers the project runs: up to 4.x gradient checkpointing is reentrant by
default, from 5.0 it is not (huggingface/transformers#43203). The version comes from the requirements, as
the torch version does (torch_target.py)."""

import textwrap

import pytest

from freezelint.static.input.torch_target import oldest_allowed, project_package_range

TRAIN = """
from peft import LoraConfig, get_peft_model


def train(model, training_args, vision_tower_keys, llm_keys):
    if training_args.gradient_checkpointing:
        model.enable_input_require_grads()
    targets = list(vision_tower_keys) + list(llm_keys)
    return get_peft_model(model, LoraConfig(target_modules=targets))
"""
BOTH_HOOKED = TRAIN.replace(
    "model.enable_input_require_grads()",
    "model.enable_input_require_grads()\n        model.vision_tower.enable_input_require_grads()",
)
NON_REENTRANT = TRAIN.replace(
    "model.enable_input_require_grads()",
    "model.enable_input_require_grads()\n"
    "        training_args.gradient_checkpointing_kwargs = {'use_reentrant': False}",
)


def _project(root, requirements, train=TRAIN):
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    (root / "train.py").write_text(textwrap.dedent(train).lstrip())
    return root


@pytest.mark.parametrize("requirements, says", [
    ("transformers==4.45.2\ntorch>=2.1\n", "assumed: transformers 4.45, from the project's requirements"),
    ("transformers>=4.40,<5\n", "assumed: transformers 4.x, from the project's requirements"),
    (None, "assumed: transformers before 5.0, which the project does not pin"),
])
def test_reentrant_versions_report_and_say_which(run_cli, tmp_path, requirements, says):
    root = _project(tmp_path / "p", requirements)
    code, out, _ = run_cli("check", "train.py", "--select", "FRZ112", "--output-format", "concise", cwd=root)
    assert code == 1 and ":6:9: FRZ112" in out and says in out
    assert "`vision_tower_keys`" in out


@pytest.mark.parametrize("requirements", ["transformers>=5.0\n", "transformers<6\n", "transformers==5.24.0\n"])
def test_a_project_that_may_run_transformers_5_is_not_reported(run_cli, tmp_path, requirements):
    root = _project(tmp_path / "p", requirements)
    code, out, _ = run_cli("check", "train.py", "--select", "FRZ112", cwd=root)
    assert code == 0, out


@pytest.mark.parametrize("train", [BOTH_HOOKED, NON_REENTRANT], ids=["vision-hooked", "use_reentrant-False"])
def test_look_alikes(run_cli, tmp_path, train):
    root = _project(tmp_path / "p", "transformers==4.45.2\n", train)
    code, out, _ = run_cli("check", "train.py", "--select", "FRZ112", cwd=root)
    assert code == 0, out


def test_version_range_reading(tmp_path):
    (tmp_path / "requirements.txt").write_text("transformers>=4.38,<4.46\naccelerate\n")
    assert project_package_range(str(tmp_path), "transformers") == ((4, 38), (4, 45))
    assert project_package_range(str(tmp_path), "peft") == (None, None)
    assert oldest_allowed("~=4.38") == (4, 38) and oldest_allowed("<5") is None
