"""The README documents every `check` flag, and its snippets say what the code does."""

import os
import re

import yaml

from cli_support import ROOT


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        return fh.read()


def test_readme_mentions_every_check_flag():
    from freezelint.cli import check

    readme = _readme()
    flags = [opt for p in check.params for opt in getattr(p, "opts", []) if opt.startswith("--")]
    missing = [f for f in flags if f not in {"--help"} and f not in readme]
    assert not missing, f"README does not mention: {missing}"


def test_readme_local_pre_commit_hook_matches_the_shipped_hook():
    readme = _readme()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    local = next(yaml.safe_load(b) for b in blocks if "repo: local" in b)
    with open(os.path.join(ROOT, ".pre-commit-hooks.yaml"), encoding="utf-8") as fh:
        (shipped,) = yaml.safe_load(fh)
    (hook,) = local["repos"][0]["hooks"]
    assert hook["entry"] == shipped["entry"] and hook["types_or"] == shipped["types_or"]


def test_readme_documents_debug_and_completion():
    readme = _readme()
    assert "FREEZELINT_DEBUG=1" in readme and "_FREEZELINT_COMPLETE=bash_source freezelint" in readme
    assert "download.pytorch.org/whl/cpu" in readme  # how a CPU-only user gets the CPU build
    assert "rev: v0.1.0" not in readme  # no such tag exists
