"""What `freezelint check` does with its flags: run, print, pick the exit code, watch."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import click

from freezelint.config import ConfigError, ConfigResolver

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


@dataclass
class CheckOptions:
    paths: List[str]
    resolver: ConfigResolver
    output_format: Optional[str] = None
    output_file: Optional[str] = None
    statistics: bool = False
    exit_zero: bool = False
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    fix_only: bool = False
    exit_non_zero_on_fix: bool = False
    show_fixes: bool = False
    add_noqa: bool = False
    no_cache: bool = False
    cache_dir: Optional[str] = None
    jobs: int = 0
    quiet: bool = False
    stdin_filename: Optional[str] = None
    force_exclude: bool = False
    color: str = "auto"


def normalize_paths(paths: Tuple[str, ...], stdin_filename: Optional[str]) -> List[str]:
    """`--stdin-filename` alone means standard input, as in ruff."""
    paths = list(paths)
    if stdin_filename is not None:
        if paths not in ([], ["-"]):
            raise ConfigError("--stdin-filename lints standard input: name no paths (or only `-`)")
        return ["-"]
    if "-" in paths and paths != ["-"]:
        raise ConfigError("`-` (stdin) cannot be combined with other paths")
    return paths or ["."]


def _format(opts: CheckOptions) -> str:
    settings = opts.resolver.for_path(opts.paths[0] if opts.paths != ["-"] else (opts.stdin_filename or "."))
    if settings.output_format_set:
        return "concise" if settings.output_format == "text" else settings.output_format
    # No format asked for: the full view on a terminal, one line per finding elsewhere.
    return "full" if opts.output_file is None and sys.stdout.isatty() else "concise"


def _line_source(stdin_text: Optional[str], stdin_name: str):
    from freezelint.static.run import engine
    from freezelint.static.fix.fixer import split_lines
    from freezelint.static.input.source import SourceError

    cache: Dict[str, Optional[List[str]]] = {}

    def lines_of(path: str) -> Optional[List[str]]:
        if path not in cache:
            if stdin_text is not None and path == stdin_name:
                text: Optional[str] = stdin_text
            else:
                try:
                    text = engine.read_source(path, 64 * 1024 * 1024).text
                except SourceError:
                    text = None
            cache[path] = None if text is None else [line.rstrip("\r\n") for line in split_lines(text)]
        return cache[path]

    return lines_of


def run(opts: CheckOptions) -> int:
    """One check; returns the exit code."""
    from freezelint.registry import all_rules
    from freezelint.report import color as colors
    from freezelint.report import progress as progress_line
    from freezelint.report import render, statistics, text
    from freezelint.report.file_places import with_stdin
    from freezelint.static.run.checker import CheckRequest, run_check

    stdin = sys.stdin.buffer.read() if opts.paths == ["-"] else None
    fix = (opts.fix or opts.fix_only) and not opts.diff
    show_progress = not opts.quiet and stdin is None and progress_line.wanted(sys.stderr)
    line = progress_line.ProgressLine(sys.stderr) if show_progress else None
    req = CheckRequest(
        paths=opts.paths,
        resolver=opts.resolver,
        fix=fix,
        unsafe_fixes=opts.unsafe_fixes,
        diff=opts.diff,
        jobs=opts.jobs,
        stdin=stdin,
        stdin_filename=opts.stdin_filename,
        no_cache=opts.no_cache,
        cache_dir=opts.cache_dir,
        force_exclude=opts.force_exclude,
        progress=line,
    )
    try:
        result = run_check(req)
    finally:
        if line is not None:
            line.close()
    fmt = _format(opts)
    settings = opts.resolver.for_path(opts.paths[0] if opts.paths != ["-"] else (opts.stdin_filename or "."))

    def names():  # the rules are imported only to name the fixes applied (a warm run need not load them)
        return {code: r.name for code, r in all_rules().items()}

    for message in result.messages:
        click.echo(f"freezelint: warning: {message}", err=True)
    if opts.add_noqa:
        return _add_noqa(result, opts)
    if result.stdin_output is not None:
        click.echo(result.stdin_output, nl=False)
    if opts.diff:
        # Like ruff: only the diff, and how many fixes it holds.
        for d in result.diffs:
            click.echo(d, nl=False)
        if not opts.quiet:
            click.echo(text.fix_summary(result.would_fix, "Would fix", result.unsafe_hidden), err=True)
        if result.errors:
            return EXIT_ERROR
        return EXIT_FINDINGS if result.diffs and not opts.exit_zero else EXIT_OK
    if opts.fix_only:
        if opts.show_fixes:
            click.echo(text.fixes_applied(result.fixed_by_file, names()), nl=False, err=True)
        elif not opts.quiet:
            click.echo(text.fix_summary(result.fixed, "Fixed", result.unsafe_hidden), err=True)
        if result.errors:
            return EXIT_ERROR
        return EXIT_FINDINGS if opts.exit_non_zero_on_fix and result.fixed and not opts.exit_zero else EXIT_OK

    color = colors.use_color(opts.color, sys.stdout, to_file=opts.output_file is not None)
    if opts.statistics:
        body = statistics.render(result.findings, "json" if fmt == "json" else "text")
    else:
        stdin_name = opts.stdin_filename or "-"
        stdin_text = result.stdin_output or (stdin.decode("utf-8", "replace") if stdin else None)
        body = render(
            result.findings,
            fmt,
            color=color,
            show_fixes=opts.show_fixes,
            lines_of=_line_source(stdin_text, stdin_name),
            docs_url=settings.docs_url,
            raw_of=with_stdin(stdin_text, stdin_name),
        )
    if opts.output_file:
        try:
            # surrogateescape: a path with undecodable bytes is written back as those bytes
            Path(opts.output_file).write_text(body, encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise ConfigError(f"{opts.output_file}: cannot write: {exc.strerror or exc}") from None
    elif body and not (result.stdin_output is not None and fmt in ("concise", "full")):
        click.echo(body, nl=False, color=color)  # color=True: click would strip it from a pipe
    elif body:
        click.echo(body, nl=False, err=True)  # stdin --fix: stdout carries the fixed source

    if opts.show_fixes and fix:
        click.echo(text.fixes_applied(result.fixed_by_file, names()), nl=False, err=True)
    if not opts.quiet and fmt in ("concise", "full"):
        click.echo(text.summary(result.findings, result.fixed, result.unsafe_hidden), err=True)

    if result.errors:
        return EXIT_ERROR
    if opts.exit_zero:
        return EXIT_OK
    if result.findings or (opts.exit_non_zero_on_fix and result.fixed):
        return EXIT_FINDINGS
    return EXIT_OK


def _add_noqa(result, opts: CheckOptions) -> int:
    from freezelint.static.run.add_noqa import add_noqa

    sizes = {f.path: opts.resolver.for_path(f.path).max_file_size for f in result.findings if f.source == "static"}
    done = add_noqa(result.findings, sizes)
    for message in done.messages:
        click.echo(f"freezelint: warning: {message}", err=True)
    if not opts.quiet:
        click.echo(f"Added {done.added} noqa {'directive' if done.added == 1 else 'directives'}.", err=True)
    return EXIT_ERROR if result.errors else EXIT_OK


WATCHED_SUFFIXES = (".py", ".pyi", ".ipynb", "pyproject.toml")


def watch(opts: CheckOptions) -> int:
    """Re-run the check whenever a Python file or a pyproject.toml under the paths changes."""
    try:
        import watchfiles
    except ImportError:
        raise ConfigError("--watch needs the watchfiles package: pip install \"freezelint[watch]\"") from None
    if opts.paths == ["-"]:
        raise ConfigError("--watch cannot watch standard input")

    def wanted(change, path: str) -> bool:
        return path.endswith(WATCHED_SUFFIXES) and ".freezelint_cache" not in path

    roots = [p if os.path.isdir(p) else (os.path.dirname(p) or ".") for p in opts.paths]
    click.echo("freezelint: watching for file changes (Ctrl-C to stop)", err=True)
    run(opts)
    try:
        for _changes in watchfiles.watch(*roots, watch_filter=wanted, debounce=300, step=50, raise_interrupt=False):
            click.echo("freezelint: file changed, checking again", err=True)
            try:
                run(opts)
            except ConfigError as exc:  # e.g. a pyproject.toml saved half-way: say so and keep watching
                click.echo(f"freezelint: error: {exc}", err=True)
    except KeyboardInterrupt:
        pass
    return EXIT_OK
