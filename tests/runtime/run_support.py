"""Helpers of the `freezelint run` tests: write a script's variant into a folder, run it in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "run")


def variant(name: str, which: str, folder) -> str:
    """tests/data/run/NAME.py without the lines marked `# variant: <the other one>`, written to folder."""
    other = "correct" if which == "mistake" else "mistake"
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        lines = [ln for ln in fh if f"# variant: {other}" not in ln]
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    return path


def run(args, cwd, freezelint: bool = True, env=None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m freezelint run ARGS` (or `python ARGS`) in cwd, output captured."""
    cmd = [sys.executable] + (["-m", "freezelint", "run"] if freezelint else []) + list(args)
    full_env = dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false", NO_COLOR="1")
    full_env.update(env or {})
    return subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, env=full_env, timeout=timeout)
