"""The `dev` extra declares what the tests import (issue 22, item 7: tests/test_cli_readme.py
imported `yaml`, which only pre-commit brought in). Every third-party module a test file
imports comes from a distribution the project's dependencies or its `dev` extra name."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "build", "dist", "__pycache__"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        project = tomllib.load(fh)["project"]
    reqs = list(project.get("dependencies", [])) + list(project["optional-dependencies"]["dev"])
    return {_norm(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r).group(0)) for r in reqs}


def _own_names() -> set:
    """Modules of this repository (tests' helpers, scripts/ and tools/ put on sys.path, packages)."""
    names = set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        names.update(os.path.basename(d) for d in dirnames)
        names.update(f[:-3] for f in filenames if f.endswith(".py"))
    return names


def imported_by_tests() -> dict:
    """Top-level module -> a test file importing it (absolute imports only)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "tests")):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for fn in filenames:
            if not fn.endswith(".py"):
                continue
            path = os.path.join(dirpath, fn)
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    out.setdefault(name.split(".")[0], os.path.relpath(path, ROOT))
    return out


def undeclared(imports: dict, known: set) -> list:
    own = _own_names()
    dists = importlib.metadata.packages_distributions()
    bad = []
    for module, where in sorted(imports.items()):
        if module in sys.stdlib_module_names or module in own:
            continue
        provided = {_norm(d) for d in dists.get(module, [])}
        if not provided & known:
            bad.append(f"{module} ({where}; from {', '.join(sorted(provided)) or 'no installed distribution'})")
    return bad


def test_every_third_party_module_the_tests_import_is_declared():
    assert undeclared(imported_by_tests(), declared()) == []


def test_a_module_only_another_package_brings_is_reported():
    """Without its own line, `yaml` (PyYAML, pulled in by pre-commit) is undeclared."""
    known = declared()
    assert "pyyaml" in known
    imports = imported_by_tests()
    assert "yaml" in imports
    assert undeclared({"yaml": imports["yaml"]}, known - {"pyyaml"}) == [f"yaml ({imports['yaml']}; from pyyaml)"]
