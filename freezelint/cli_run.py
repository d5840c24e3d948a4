"""`freezelint run [OPTIONS] SCRIPT [ARGS]...` / `freezelint run [OPTIONS] -m MODULE [ARGS]...`.

Runs the script in this process as `python SCRIPT ARGS` would, audits its optimizer steps
(`runtime/run_hooks.py`) against the intent joined from `--frozen/--trainable/--ignore`,
`[tool.freezelint.audit]` in pyproject.toml and what the static pass reads as freezes in the
script's project (`static/intent.py`), and prints the findings after the script ends.

Exit codes: 1 when an audit found errors, else the script's own (SystemExit codes pass through,
an uncaught exception gives 1); 2 for bad input (a missing script or module, a bad option or
pyproject value), as one line. This is the one module that joins the two passes: the static
intent reaches the runtime as `declarations.Declaration` records.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional, Tuple

import click

FORMATS = ("text", "json", "sarif", "github")


from freezelint.runtime.run_config import RunUsageError, read_audit_config


def _split(values: Tuple[str, ...]) -> List[str]:
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _module_file(name: str) -> Optional[str]:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package: its __main__
        try:
            spec = importlib.util.find_spec(name + ".__main__")
        except Exception:
            return None
    return spec.origin if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _static_declarations(script: Optional[str]):
    def read():
        if script is None:
            return []
        from freezelint.static.run.intent import read_intent

        return read_intent(script)

    return read


def _write(text: str, output_file: Optional[str]) -> None:
    if output_file:
        with open(output_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("-m", "module", default=None, metavar="MODULE", help="Run a library module as a script (as `python -m`).")
@click.option("--frozen", multiple=True, help="What must stay frozen (names or globs, comma-separated; repeatable).")
@click.option("--trainable", multiple=True, help="What must train.")
@click.option("--ignore", "ignore_", multiple=True, help="What is not checked (an EMA updated on purpose).")
@click.option("--steps", type=click.IntRange(min=0), default=0, help="Also audit every N-th step of each optimizer (0: only the first steps).")
@click.option("--stop", is_flag=True, help="End the run once the first audits are done (a fast CI check).")
@click.option("--no-static", is_flag=True, help="Do not read the script's project for declared freezes.")
@click.option("--output-format", type=click.Choice(FORMATS), default="text", show_default=True, help="How to print findings.")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None, help="Write the report to this file.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None, help="Also write the report as an HTML page.")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx, module, frozen, trainable, ignore_, steps, stop, no_static, output_format, output_file, html_file, argv):
    """Run SCRIPT (or -m MODULE) as python would, and audit its optimizer steps for freezing mistakes.

    Exits 1 when an audit found errors, otherwise with the script's own exit code.
    """
    try:
        code = _run(module, list(argv), frozen, trainable, ignore_, steps, stop, no_static, output_format, output_file, html_file)
    except RunUsageError as e:
        click.echo(f"freezelint: error: {e}", err=True)
        code = 2
    ctx.exit(code)


def _run(module, argv, frozen, trainable, ignore_, steps, stop, no_static, output_format, output_file, html_file) -> int:
    if module is None and not argv:
        raise RunUsageError("missing SCRIPT (or -m MODULE): `freezelint run train.py --epochs 1`")
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise RunUsageError(f"`freezelint run` needs torch ({e}); install `freezelint[runtime]`") from None
    from freezelint.runtime import run_script
    from freezelint.runtime.run_hooks import Runner, StopRun
    from freezelint.runtime.run_report import NOTHING_RAN, RunReport

    try:
        if module is not None:
            run_script.check_module(module)
            script, args = _module_file(module), argv
        else:
            script, args = run_script.check_script(argv[0]), argv[1:]
    except run_script.ScriptNotFound as e:
        raise RunUsageError(str(e)) from None
    config, _ = read_audit_config(script or os.getcwd())
    user = {
        "frozen": _split(frozen) or config.get("frozen"),
        "trainable": _split(trainable) or config.get("trainable"),
        "ignore": _split(ignore_) or config.get("ignore"),
    }
    declarations = (lambda: []) if no_static else _static_declarations(script if script and os.path.isfile(script) else None)
    runner = Runner(declarations, user, steps_every=steps, stop=stop).install()
    outcome = None
    try:
        if module is not None:
            outcome = run_script.run_module(module, args, StopRun)
        else:
            outcome = run_script.run_path(argv[0], args, StopRun)
    finally:
        runner.finish(script_failed=outcome is None or outcome.raised is not None)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    report = RunReport(runner.records, runner.notes, runner.steps)
    if not report.records:
        for n in runner.notes:
            click.echo(f"freezelint: note: {n}", err=True)
        click.echo(f"freezelint: {NOTHING_RAN}", err=True)
        return outcome.exit_code
    rank = _launcher_rank()
    if rank:  # under torchrun / accelerate launch every rank audits its own shard; rank 0 prints
        if not report.ok:
            click.echo(f"freezelint: rank {rank}: {report.summary_line()} (the report is printed by rank 0)", err=True)
        return 1 if not report.ok else outcome.exit_code
    color = output_format == "text" and not output_file and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    _write(report.render(output_format, color=color), output_file)
    if html_file:
        with open(html_file, "w", encoding="utf-8") as fh:
            fh.write(report.html())
    click.echo(report.summary_line(), err=True)
    if not report.ok:
        return 1
    return outcome.exit_code


def _launcher_rank() -> int:
    """This process's global rank when a launcher (torchrun, accelerate launch, deepspeed) set one; else 0."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


__all__ = ["read_audit_config", "run_command"]
