"""Run a script or a module in this process as `python SCRIPT ARGS` / `python -m MODULE ARGS` would.

`__main__` is the script's own module (so pickling its classes works), `sys.argv` is
`[SCRIPT, *ARGS]`, `sys.path[0]` is the script's folder (the working directory for `-m`), and the
outcome is the exit code Python would give: `SystemExit` codes pass through, an uncaught exception
prints its traceback as Python prints it (without this runner's frames) and gives 1.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
import types
from dataclasses import dataclass
from typing import List, Optional


class ScriptNotFound(Exception):
    """The script or module does not exist: one line, exit 2."""


@dataclass
class Outcome:
    exit_code: int
    raised: Optional[BaseException] = None  # an uncaught exception (not SystemExit)
    stopped: bool = False  # ended by the runner after the audited steps (--stop)


def check_script(path: str) -> str:
    if not os.path.exists(path):
        raise ScriptNotFound(f"can't open file {path!r}: no such file")
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "__main__.py")):
        raise ScriptNotFound(f"can't find '__main__' module in {path!r}")
    return path


def check_module(name: str) -> None:
    import importlib.util

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as e:
        raise ScriptNotFound(f"no module named {name!r} ({type(e).__name__}: {e})") from None
    if spec is None:
        raise ScriptNotFound(f"no module named {name!r}")


def exit_code_of(e: SystemExit) -> int:
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if code >= 0 else code % 256
    print(code, file=sys.stderr)  # as Python does with `sys.exit("message")`
    return 1


def _print_traceback(e: BaseException) -> None:
    tb = e.__traceback__
    here = {os.path.abspath(__file__), os.path.abspath(runpy.__file__)}
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) in here:
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb)


def _run(body, stop_exc: type) -> Outcome:
    try:
        body()
    except SystemExit as e:
        return Outcome(exit_code_of(e))
    except stop_exc:
        return Outcome(0, stopped=True)
    except KeyboardInterrupt as e:
        _print_traceback(e)
        return Outcome(130, raised=e)
    except BaseException as e:  # noqa: B036 - printed as Python prints it, then its exit code
        _print_traceback(e)
        return Outcome(1, raised=e)
    return Outcome(0)


def run_path(path: str, args: List[str], stop_exc: type) -> Outcome:
    """Run a file (or a folder / zip with `__main__.py`) as `__main__`."""
    full = os.path.abspath(path)
    old_argv, old_path0 = sys.argv[:], sys.path[0] if sys.path else None
    old_main = sys.modules.get("__main__")
    sys.argv = [path] + list(args)
    folder = full if os.path.isdir(full) else os.path.dirname(full)
    if sys.path:
        sys.path[0] = folder
    else:
        sys.path.insert(0, folder)

    def body():
        if os.path.isdir(full) or full.endswith(".zip"):
            runpy.run_path(full, run_name="__main__")
            return
        main = types.ModuleType("__main__")
        main.__file__ = full  # absolute, as Python 3.9+ sets it
        main.__builtins__ = __builtins__  # type: ignore[attr-defined]
        main.__dict__.update({"__spec__": None, "__package__": None, "__loader__": None, "__cached__": None})
        sys.modules["__main__"] = main
        with open(full, "rb") as fh:
            source = fh.read()
        code = compile(source, full, "exec", dont_inherit=True)
        exec(code, main.__dict__)

    try:
        return _run(body, stop_exc)
    finally:
        sys.argv = old_argv
        if old_path0 is not None and sys.path:
            sys.path[0] = old_path0
        if old_main is not None:
            sys.modules["__main__"] = old_main


def run_module(name: str, args: List[str], stop_exc: type) -> Outcome:
    """Run a module as `python -m` does: `sys.path[0]` is the working directory."""
    old_argv = sys.argv[:]
    sys.argv = [name] + list(args)
    cwd = os.getcwd()
    if sys.path:
        sys.path[0] = cwd
    try:
        return _run(lambda: runpy.run_module(name, run_name="__main__", alter_sys=True), stop_exc)
    finally:
        sys.argv = old_argv


__all__ = ["Outcome", "ScriptNotFound", "check_module", "check_script", "exit_code_of", "run_module", "run_path"]
