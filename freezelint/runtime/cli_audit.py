"""`freezelint audit MODULE:FUNCTION`: audit one step of a user's training setup.

FUNCTION takes no argument and returns `(model, optimizer, step)`,
`(model, optimizer, step, {"frozen": [...], "trainable": [...], "ignore": [...]})`, or a
dict with keys `model`, `optimizer`, `step` and optionally `frozen`, `trainable`, `ignore`. MODULE is
a dotted module importable from the current directory (`examples.audit_example`)
or a path to a Python file (`examples/audit_example.py`).

Exit codes: 0 no error finding (warnings allowed), 1 error findings, 2 bad
input (a one-line message, never a traceback).

This module imports torch only when the command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any, Dict, Optional, Tuple

import click

FORMATS = ("text", "json", "sarif", "github")


class UsageFailure(Exception):
    """Bad input: printed as one line, exit code 2."""


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def load_target(target: str) -> Any:
    """Resolve MODULE:FUNCTION or path/to/file.py:FUNCTION to the callable."""
    if ":" not in target:
        raise UsageFailure(f"expected MODULE:FUNCTION or path/to/file.py:FUNCTION, got {target!r}")
    mod_part, func_name = target.rsplit(":", 1)
    if not mod_part or not func_name:
        raise UsageFailure(f"expected MODULE:FUNCTION or path/to/file.py:FUNCTION, got {target!r}")
    is_file = mod_part.endswith(".py") or "/" in mod_part or os.sep in mod_part
    try:
        if is_file:
            path = os.path.abspath(mod_part)
            if not os.path.isfile(path):
                raise UsageFailure(f"no such file: {mod_part}")
            directory = os.path.dirname(path)
            if directory not in sys.path:
                sys.path.insert(0, directory)
            name = "_freezelint_audit_" + os.path.splitext(os.path.basename(path))[0]
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise UsageFailure(f"cannot import {mod_part}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            cwd = os.getcwd()
            if cwd not in sys.path:
                sys.path.insert(0, cwd)
            module = importlib.import_module(mod_part)
    except UsageFailure:
        raise
    except ImportError as e:
        raise UsageFailure(f"cannot import {mod_part!r}: {_one_line(e)}") from None
    except SyntaxError as e:
        raise UsageFailure(f"cannot import {mod_part!r}: SyntaxError at line {e.lineno}: {e.msg}") from None
    except Exception as e:
        raise UsageFailure(f"importing {mod_part!r} raised {_one_line(e)}") from None
    func = getattr(module, func_name, None)
    if func is None:
        raise UsageFailure(f"{mod_part!r} has no attribute {func_name!r}")
    if not callable(func):
        raise UsageFailure(f"{target} is not callable")
    return func


def unpack(result: Any, target: str) -> Tuple[Any, Any, Any, Dict[str, Any]]:
    """(model, optimizer, step, {"frozen": ..., "trainable": ...}) from what FUNCTION returned."""
    shape = (
        f"{target} must return (model, optimizer, step), (model, optimizer, step, options) or a dict "
        f"with model, optimizer, step"
    )
    if isinstance(result, dict):
        missing = [k for k in ("model", "optimizer", "step") if k not in result]
        if missing:
            raise UsageFailure(f"{shape}; the dict lacks {', '.join(missing)}")
        extra = set(result) - {"model", "optimizer", "step", "frozen", "trainable", "ignore"}
        if extra:
            raise UsageFailure(f"{shape}; unknown keys: {', '.join(sorted(extra))}")
        opts = {k: result[k] for k in ("frozen", "trainable", "ignore") if k in result}
        return result["model"], result["optimizer"], result["step"], opts
    if isinstance(result, tuple) and len(result) in (3, 4):
        opts: Dict[str, Any] = {}
        if len(result) == 4:
            if not isinstance(result[3], dict):
                raise UsageFailure(f"{shape}; the fourth item must be a dict, got {type(result[3]).__name__}")
            extra = set(result[3]) - {"frozen", "trainable", "ignore"}
            if extra:
                raise UsageFailure(f"{shape}; unknown options: {', '.join(sorted(extra))}")
            opts = dict(result[3])
        return result[0], result[1], result[2], opts
    raise UsageFailure(f"{shape}; got {type(result).__name__}")


def _validate(model: Any, step: Any, target: str) -> None:
    from torch import nn

    if not isinstance(model, nn.Module):
        raise UsageFailure(f"{target} returned a model that is not a torch.nn.Module ({type(model).__name__})")
    if not callable(step):
        raise UsageFailure(f"{target} returned a step that is not callable ({type(step).__name__})")


def _write(text: str, output_file: Optional[str]) -> None:
    if output_file:
        with open(output_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@click.command("audit")
@click.argument("target", metavar="MODULE:FUNCTION")
@click.option(
    "--output-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to print findings.",
)
@click.option("--output-file", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write findings to this file.")
@click.pass_context
def audit_command(ctx: click.Context, target: str, output_format: str, output_file: Optional[str]) -> None:
    """Run one real training step of MODULE:FUNCTION and check the freeze.

    FUNCTION returns (model, optimizer, step), optionally with a fourth item
    {"frozen": [...], "trainable": [...]}, or a dict with those keys. Exits 1
    when the audit finds errors.
    """
    try:
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise UsageFailure(f"`freezelint audit` needs torch ({_one_line(e)}); install `freezelint[runtime]`") from None
        func = load_target(target)
        try:
            result = func()
        except Exception as e:
            raise UsageFailure(f"{target}() raised {_one_line(e)}") from None
        model, optimizer, step, opts = unpack(result, target)
        _validate(model, step, target)
        from freezelint.runtime import audit_step

        try:
            report = audit_step(model, optimizer, step, restore=False, **opts)
        except Exception as e:
            report, step_error = getattr(e, "freeze_audit_report", None), e
            if report is None:  # raised before the step ran: bad arguments
                raise UsageFailure(f"cannot audit {target}: {_one_line(e)}") from None
            if report.ok:
                raise UsageFailure(f"the step raised {_one_line(e)}") from None
        else:
            step_error = None
    except UsageFailure as e:
        click.echo(f"freezelint: error: {e}", err=True)
        ctx.exit(2)
        return

    from freezelint.report import render
    from freezelint.runtime.report import summary_line

    color = output_format == "text" and not output_file and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    out = render(report.findings, output_format, color=color)
    if output_format == "text":
        out += ("\n" if out else "") + report.summary() + "\n"
    else:
        click.echo(report.summary(), err=True)
    _write(out, output_file)
    if step_error is not None:
        click.echo(f"freezelint: the step raised {_one_line(step_error)}", err=True)
    click.echo(summary_line(report.findings), err=True)
    ctx.exit(0 if report.ok else 1)


__all__ = ["audit_command", "load_target", "unpack"]
