"""The `freezelint` command: check, rules, explain (and audit, which loads torch lazily)."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import List, Tuple

import click

from freezelint import __version__
from freezelint.config import (
    OUTPUT_FORMATS,
    ConfigError,
    ConfigResolver,
    Overrides,
    require_static_selection,
    target_version_or_error,
    validate_selectors,
)

EXIT_ERROR = 2


def _split(values: Tuple[str, ...]) -> List[str]:
    return [v for raw in values for v in raw.split(",") if v.strip()]


def _fail(message: str) -> None:
    click.echo(f"freezelint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _internal_error(exc: BaseException) -> None:
    if os.environ.get("FREEZELINT_DEBUG"):
        raise exc
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    _fail(f"internal error (set FREEZELINT_DEBUG=1 for a traceback, and please report it): {reason}")


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
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `freezelint rules | head -1`: click's main exits quietly
                raise
            _internal_error(exc)
        except Exception as exc:  # a bug of ours: one line and exit 2, never a traceback in CI
            _internal_error(exc)

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
        if cmd_name == "run":  # imports torch only when it runs
            from freezelint.cli_run import run_command

            return run_command
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {"audit", "run"})


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="freezelint")
def main() -> None:
    """Catch PyTorch freezing mistakes (static checks and a runtime auditor)."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (replaces the default set); ALL for every rule.")
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option(
    "--output-format",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="How to print findings (default: full on a terminal, else concise; text = concise).",
)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None, help="Write findings to this file.")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of each finding (JSON with --output-format json).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes that may change intent.")
@click.option("--diff", is_flag=True, help="Print the fixes as a diff instead of writing them (and nothing else).")
@click.option("--fix-only", is_flag=True, help="Apply fixes; do not report or fail on the findings left.")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="Exit 1 when a file was fixed, even if no finding remains.")
@click.option("--show-fixes", is_flag=True, help="List the fixes applied (with --fix), or each finding's fix.")
@click.option("--add-noqa", is_flag=True, help="Add `# noqa: CODE` to every line with a finding.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to keep the result cache (default: $FREEZELINT_CACHE_DIR, else .freezelint_cache at the project root).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (default: one per core).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary or progress.")
@click.option("--stdin-filename", default=None, help="Lint standard input, reported (and configured) as this file.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes to paths named on the command line too (pre-commit).")
@click.option("--target-version", default=None, help="Oldest Python the code supports, e.g. py39 (default: requires-python).")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    help="Colour the text output (auto: on a terminal; NO_COLOR / FORCE_COLOR are honoured).",
)
@click.option("-w", "--watch", is_flag=True, help="Check again whenever a file changes (needs freezelint[watch]).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="Use this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
def check(paths, select, extend_select, ignore, target_version, config_file, isolated, watch, **flags):
    """Lint Python files for freezing mistakes (default path: `.`)."""
    from freezelint.cli_check import CheckOptions, normalize_paths, run
    from freezelint.cli_check import watch as watch_paths

    selected = validate_selectors(_split(select), "--select") if select else None
    extended = validate_selectors(_split(extend_select), "--extend-select") if extend_select else ()
    if selected is not None:
        require_static_selection(selected, extended, "--select")
    if flags["add_noqa"] and (flags["fix"] or flags["fix_only"] or flags["diff"]):
        raise ConfigError("--add-noqa cannot be combined with --fix, --fix-only or --diff")
    overrides = Overrides(
        select=selected,
        extend_select=extended,
        ignore=validate_selectors(_split(ignore), "--ignore") if ignore else (),
        output_format=flags["output_format"],
        config_file=Path(config_file) if config_file else None,
        isolated=isolated,
        target_version=target_version_or_error(target_version, "--target-version") if target_version else None,
    )
    paths = normalize_paths(paths, flags["stdin_filename"])
    if flags["add_noqa"] and paths == ["-"]:
        raise ConfigError("--add-noqa edits files: it cannot read standard input")
    opts = CheckOptions(
        paths=paths,
        resolver=ConfigResolver(overrides),
        **flags,
    )
    sys.exit(watch_paths(opts) if watch else run(opts))


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
    from freezelint.rule_docs import render_page

    info = get(code.strip().upper())
    if info is None:
        raise ConfigError(f"unknown rule `{code}` (see `freezelint rules`)")
    click.echo(render_page(info), nl=False)


@main.command()
@click.option("--stdio", is_flag=True, help="Speak LSP over standard input/output (the default; editors may pass it).")
def server(stdio):
    """Run the language server (LSP over stdio) for editors; needs freezelint[server]."""
    from freezelint.server import main as serve
    from freezelint.server import missing_dependency

    why = missing_dependency()
    if why:
        raise ConfigError(why)
    sys.exit(serve())


if __name__ == "__main__":  # pragma: no cover
    main()
