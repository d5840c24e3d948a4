"""The script part of action.yml: install freezelint into a fresh venv, run it with
GitHub annotations, and exit with its exit code. tests/test_action.py runs it.

Environment (set by action.yml from the inputs): INPUT_ARGS, INPUT_SRC,
INPUT_INSTALL, INPUT_PIP_ARGS, FREEZELINT_ACTION_PATH, RUNNER_TEMP.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import List, Mapping, Optional


def venv_dir(env: Mapping[str, str]) -> str:
    return os.path.join(env.get("RUNNER_TEMP") or tempfile.gettempdir(), "freezelint-venv")


def install_commands(env: Mapping[str, str]) -> List[List[str]]:
    """The commands that create the venv and install freezelint ([] for `install: none`)."""
    spec = env.get("INPUT_INSTALL", "").strip()
    if spec.lower() == "none":
        return []
    spec = spec or env.get("FREEZELINT_ACTION_PATH") or "."
    venv = venv_dir(env)
    python = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
    return [
        [sys.executable, "-m", "venv", venv],
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *shlex.split(env.get("INPUT_PIP_ARGS", "")), spec],
    ]


def freezelint_executable(env: Mapping[str, str]) -> List[str]:
    if env.get("INPUT_INSTALL", "").strip().lower() == "none":
        found = shutil.which("freezelint", path=env.get("PATH"))
        return [found] if found else [sys.executable, "-m", "freezelint"]
    venv = venv_dir(env)
    return [os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "freezelint")]


def check_command(env: Mapping[str, str], executable: Optional[List[str]] = None) -> List[str]:
    args = shlex.split(env.get("INPUT_ARGS", "") or "check")
    if not any(a == "--output-format" or a.startswith("--output-format=") for a in args):
        args += ["--output-format", "github"]
    src = shlex.split(env.get("INPUT_SRC", "") or ".")
    return (executable or freezelint_executable(env)) + args + src


def main(env: Mapping[str, str] = os.environ) -> int:
    for cmd in install_commands(env):
        print("::group::" + " ".join(shlex.quote(c) for c in cmd), flush=True)
        done = subprocess.run(cmd)
        print("::endgroup::", flush=True)
        if done.returncode != 0:
            print(f"::error title=freezelint::installing freezelint failed (exit {done.returncode})", flush=True)
            return done.returncode
    cmd = check_command(env)
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
