"""The `freezelint` command: check, rules, explain (and audit, which loads torch lazily)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import List, Tuple

import click

from freezelint import __version__
from freezelint.config import OUTPUT_FORMATS, ConfigError, ConfigResolver, Overrides, validate_selectors

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _split(values: Tuple[str, ...]) -> List[str]:
    return [v for raw in values for v in raw.split(",") if v.strip()]


def _fail(message: str) -> None:
    click.echo(f"freezelint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


class _Group(click.Group):
    """Turns usage errors into one line and exit 2, with no traceback for anything."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            # Every write is already complete or undone (fixer.write_atomic holds the
            # signal). Exit without interpreter finalization: tearing down libcst's
            # native module right after an interrupt intermittently aborts (SIGABRT).
            click.echo("freezelint: interrupted", err=True)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug of ours: one line and exit 2, never a traceback in CI
            if os.environ.get("FREEZELINT_DEBUG"):
                raise
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
            _fail(f"internal error (set FREEZELINT_DEBUG=1 for a traceback, and please report it): {reason}")

    def get_command(self, ctx, cmd_name):
        if cmd_name == "audit":
            try:
                from freezelint.runtime.cli_audit import audit_command
            except ImportError as exc:  # torch missing: say how to get it
                missing = getattr(exc, "name", None) or str(exc)

                @click.command("audit", context_settings={"ignore_unknown_options": True})
                @click.argument("args", nargs=-1, type=click.UNPROCESSED)
                def audit_command(args):
                    _fail(f"`freezelint audit` needs torch ({missing} not importable); install `freezelint[runtime]`")

            return audit_command
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {"audit"})


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="freezelint")
def main() -> None:
    """Catch PyTorch freezing mistakes (static checks and a runtime auditor)."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (replaces the default set); ALL for every rule.")
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default=None, help="How to print findings.")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None, help="Write findings to this file.")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of each finding.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes that may change intent.")
@click.option("--diff", is_flag=True, help="Print the fixes as a diff instead of writing them.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to keep the result cache (default: $FREEZELINT_CACHE_DIR, else .freezelint_cache at the project root).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (default: one per core).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary.")
@click.option("--stdin-filename", default=None, help="The name to report for a file read from `-`.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="Use this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
def check(
    paths,
    select,
    extend_select,
    ignore,
    output_format,
    output_file,
    statistics,
    exit_zero,
    fix,
    unsafe_fixes,
    diff,
    no_cache,
    cache_dir,
    jobs,
    quiet,
    stdin_filename,
    config_file,
    isolated,
):
    """Lint Python files for freezing mistakes (default path: `.`)."""
    from freezelint.report import render
    from freezelint.report.text import summary
    from freezelint.static.checker import CheckRequest, run_check

    overrides = Overrides(
        select=validate_selectors(_split(select), "--select") if select else None,
        extend_select=validate_selectors(_split(extend_select), "--extend-select") if extend_select else (),
        ignore=validate_selectors(_split(ignore), "--ignore") if ignore else (),
        output_format=output_format,
        config_file=Path(config_file) if config_file else None,
        isolated=isolated,
    )
    resolver = ConfigResolver(overrides)
    paths = list(paths) or ["."]
    stdin = None
    if paths == ["-"]:
        stdin = sys.stdin.buffer.read()
    elif "-" in paths:
        raise ConfigError("`-` (stdin) cannot be combined with other paths")
    req = CheckRequest(
        paths=paths,
        resolver=resolver,
        fix=fix and not diff,
        unsafe_fixes=unsafe_fixes,
        diff=diff,
        jobs=jobs,
        stdin=stdin,
        stdin_filename=stdin_filename,
        no_cache=no_cache,
        cache_dir=cache_dir,
    )
    result = run_check(req)
    fmt = output_format or resolver.for_path(paths[0] if paths != ["-"] else (stdin_filename or ".")).output_format

    for message in result.messages:
        click.echo(f"freezelint: warning: {message}", err=True)
    if result.stdin_output is not None:
        click.echo(result.stdin_output, nl=False)
    if diff:
        for d in result.diffs:
            click.echo(d, nl=False)

    if statistics:
        counts = Counter((f.code, f.name) for f in result.findings)
        fixable = {f.code for f in result.findings if f.fixable}
        body = "".join(
            f"{n:>5}\t{code}\t{'[*] ' if code in fixable else ''}{name}\n"
            for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
    else:
        color = output_file is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        body = render(result.findings, fmt, color=color)

    if output_file:
        try:
            # surrogateescape: a path with undecodable bytes is written back as those bytes
            Path(output_file).write_text(body, encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise ConfigError(f"{output_file}: cannot write: {exc.strerror or exc}") from None
    elif body and not (result.stdin_output is not None and fmt == "text"):
        click.echo(body, nl=False)
    elif body:
        click.echo(body, nl=False, err=True)  # stdin --fix: stdout carries the fixed source

    if not quiet and fmt == "text":
        click.echo(summary(result.findings, result.fixed, result.unsafe_hidden), err=True)

    if result.errors:
        sys.exit(EXIT_ERROR)
    if diff and result.diffs and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    if result.findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)


@main.command()
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text")
def rules(output_format):
    """List every rule: code, name, on by default, fixable."""
    import json

    from freezelint.registry import all_rules

    infos = [r for r in all_rules().values() if r.kind != "internal"]
    if output_format == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "code": r.code,
                        "name": r.name,
                        "kind": r.kind,
                        "default": r.default_enabled,
                        "fixable": r.fixable,
                        "severity": r.severity.value,
                        "summary": r.summary,
                    }
                    for r in infos
                ],
                indent=2,
            )
        )
        return
    width = max(len(r.name) for r in infos)
    click.echo(f"{'code':<7} {'name':<{width}}  {'pass':<7} {'default':<7} {'fix':<6}")
    for r in infos:
        click.echo(
            f"{r.code:<7} {r.name:<{width}}  {r.kind:<7} {'on' if r.default_enabled else 'off':<7} {r.fixable or '-':<6}"
        )


@main.command()
@click.argument("code")
def explain(code):
    """Print a rule's documentation."""
    from freezelint.registry import get

    info = get(code.strip().upper())
    if info is None:
        raise ConfigError(f"unknown rule `{code}` (see `freezelint rules`)")
    fix = {"safe": "Fix is always available (safe).", "unsafe": "Fix is sometimes available (unsafe: review it)."}
    click.echo(f"# {info.name} ({info.code})\n")
    click.echo(f"Derived from the **freezelint** {info.kind} pass. Default: {'on' if info.default_enabled else 'off'}. Severity: {info.severity.value}.")
    if info.fixable:
        click.echo(fix[info.fixable])
    click.echo("")
    click.echo(info.doc)


if __name__ == "__main__":  # pragma: no cover
    main()
