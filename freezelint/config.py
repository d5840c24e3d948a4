"""`[tool.freezelint]` in pyproject.toml, merged with command-line flags.

Selection follows ruff: `select` (default: every rule on by default), then
`extend-select`, then `ignore`; codes, prefixes (`FRZ0`) and `ALL` are
accepted, and the more specific selector wins (`ignore = ["FRZ0"]` with
`extend-select = ["FRZ001"]` keeps FRZ001).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, FrozenSet, Optional, Sequence, Tuple

from freezelint.errors import ConfigError
from freezelint.selection import (  # noqa: F401  (require_static_selection, validate_selectors: re-exported)
    matches_selector,
    require_static_selection,
    specificity,
    validate_selectors,
)
from freezelint.target_version import parse_target_version, target_from_requires_python

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_EXCLUDE: Tuple[str, ...] = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pytype",
    ".ruff_cache",
    ".freezelint_cache",
    ".svn",
    ".tox",
    ".venv",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)
# "text" is the old name of "concise". With no format given, a terminal gets "full".
OUTPUT_FORMATS = ("full", "concise", "text", "json", "sarif", "github")
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024  # bytes; a libcst tree costs ~550 bytes per source byte


@dataclass(frozen=True)
class Settings:
    root: Path = field(default_factory=Path.cwd)  # the folder patterns are relative to
    config_file: Optional[Path] = None
    select: Optional[Tuple[str, ...]] = None  # None: the rules on by default
    extend_select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: Tuple[str, ...] = ()
    output_format: str = "concise"
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    respect_gitignore: bool = True
    output_format_set: bool = False  # False: chosen by the terminal (full) or not (concise)
    target_version: Optional[Tuple[int, int]] = None  # the oldest Python the project supports
    target_torch_version: Optional[Tuple[int, int]] = None  # overrides the torch the requirements allow
    docs_url: Optional[str] = None  # base URL of the rule pages (default: freezelint's own)

    # -- selection --------------------------------------------------------
    def enabled_codes(self) -> FrozenSet[str]:
        from freezelint.registry import all_rules

        out = set()
        for code, info in all_rules().items():
            if info.kind != "static":
                continue
            if self.select is None:
                # The default set ranks below any selector, so a prefix in `ignore`
                # removes the codes under it (ruff's rule), while a more specific
                # `extend-select` still brings one back.
                chosen = max(0 if info.default_enabled else -1, specificity(code, self.extend_select))
            else:
                chosen = specificity(code, tuple(self.select) + self.extend_select)
            if chosen >= 0 and chosen > specificity(code, self.ignore):
                out.add(code)
        return frozenset(out)

    def ignored_for(self, path: str) -> FrozenSet[str]:
        """Codes per-file-ignores switches off for this path (prefixes expanded)."""
        if not self.per_file_ignores:
            return frozenset()
        from freezelint.registry import all_rules

        rel = _relative(path, self.root)
        name = os.path.basename(path)
        out = set()
        for pattern, codes in self.per_file_ignores:
            if _match(rel, name, pattern):
                for code in all_rules():
                    if any(matches_selector(code, c) for c in codes):
                        out.add(code)
        return frozenset(out)

    def is_excluded(self, path: str, patterns: Optional[Sequence[str]] = None) -> bool:
        name = os.path.basename(path)
        pats = patterns if patterns is not None else (self.exclude + self.extend_exclude)
        literal, globs, slashed = _split_patterns(tuple(pats))
        if name in literal or any(fnmatch.fnmatchcase(name, g) for g in globs):
            return True
        if not slashed:
            return False
        rel = _relative(path, self.root)  # only patterns with a slash need it (discovery asks per file)
        return any(_match(rel, name, p) for p in slashed)


@functools.lru_cache(maxsize=64)
def _split_patterns(pats: Tuple[str, ...]) -> Tuple[FrozenSet[str], Tuple[str, ...], Tuple[str, ...]]:
    """(bare names without wildcards, bare glob patterns, patterns with a slash): discovery asks
    for every file and folder, and most default patterns are plain names (a set lookup)."""
    literal, globs, slashed = set(), [], []
    for p in pats:
        n = _normalize_pattern(p)
        if "/" in n:
            slashed.append(p)
        elif any(c in n for c in "*?["):
            globs.append(n)
        else:
            literal.add(n)
    return frozenset(literal), tuple(globs), tuple(slashed)


def _normalize_pattern(pattern: str) -> str:
    pattern = pattern.rstrip("/")
    return pattern[2:] if pattern.startswith("./") else pattern


def _relative(path: str, root: Path) -> str:
    try:
        return Path(os.path.abspath(path)).relative_to(root.resolve() if root.exists() else root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _match(rel: str, name: str, pattern: str) -> bool:
    """ruff-style: a bare name matches the file or folder name (discovery checks each
    folder on the way down, so it excludes everything below a matching folder, but
    never a folder above the path the user named); a pattern with a slash matches
    the path relative to the config's folder (or any trailing part of it)."""
    pattern = _normalize_pattern(pattern)
    if "/" not in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern + "/*") or fnmatch.fnmatchcase(rel, "*/" + pattern)


def target_version_or_error(value: str, where: str) -> Tuple[int, int]:
    try:
        return parse_target_version(value, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


# -- pyproject.toml ---------------------------------------------------------

_KEYS = {
    "select": "list",
    "extend-select": "list",
    "ignore": "list",
    "per-file-ignores": "table",
    "exclude": "list",
    "extend-exclude": "list",
    "output-format": "str",
    "max-file-size": "int",
    "respect-gitignore": "bool",
    "target-version": "str",
    "target-torch-version": "str",
    "docs-url": "str",
}


def _check_type(value, kind: str) -> bool:
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "table":
        return isinstance(value, dict) and all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
        )
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if kind == "bool":
        return isinstance(value, bool)
    return False


_KIND_WORDS = {
    "list": "a list of strings",
    "table": "a table of pattern = [codes]",
    "str": "a string",
    "int": "a positive integer (bytes)",
    "bool": "true or false",
}


def _check_glob(pattern: str, where: str) -> None:
    if pattern.count("[") != pattern.count("]") or not pattern.strip():
        raise ConfigError(f"{where}: invalid glob pattern `{pattern}`")


def _load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def requires_python_target(path: Path) -> Optional[Tuple[int, int]]:
    """The target from `[project] requires-python` of this pyproject.toml, if any."""
    project = _load_toml(path).get("project")
    spec = project.get("requires-python") if isinstance(project, dict) else None
    return target_from_requires_python(spec) if isinstance(spec, str) else None


def load_pyproject(path: Path) -> Optional[dict]:
    """The `[tool.freezelint]` table of a pyproject.toml, or None when it has none."""
    data = _load_toml(path)
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "freezelint" not in tool:
        return None
    table = tool["freezelint"]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.freezelint] must be a table")
    return table


def settings_from_table(table: dict, config_file: Path) -> Settings:
    where = f"{config_file}: [tool.freezelint]"
    for key, value in table.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{where} unknown key `{key}` (known keys: {known})")
        if not _check_type(value, _KEYS[key]):
            raise ConfigError(f"{where} `{key}` must be {_KIND_WORDS[_KEYS[key]]}, got {type(value).__name__} {value!r}")
    kwargs: Dict[str, object] = {"root": config_file.parent, "config_file": config_file}
    if "select" in table:
        kwargs["select"] = validate_selectors(table["select"], f"{where} `select`")
    if "extend-select" in table:
        kwargs["extend_select"] = validate_selectors(table["extend-select"], f"{where} `extend-select`")
    if "select" in table:
        require_static_selection(kwargs["select"], kwargs.get("extend_select", ()), f"{where} `select`")
    if "ignore" in table:
        kwargs["ignore"] = validate_selectors(table["ignore"], f"{where} `ignore`")
    if "per-file-ignores" in table:
        pfi = []
        for pattern, codes in table["per-file-ignores"].items():
            _check_glob(pattern, f"{where} `per-file-ignores`")
            pfi.append((pattern, validate_selectors(codes, f"{where} `per-file-ignores` `{pattern}`")))
        kwargs["per_file_ignores"] = tuple(pfi)
    for key, attr in (("exclude", "exclude"), ("extend-exclude", "extend_exclude")):
        if key in table:
            for p in table[key]:
                _check_glob(p, f"{where} `{key}`")
            kwargs[attr] = tuple(table[key])
    if "output-format" in table:
        if table["output-format"] not in OUTPUT_FORMATS:
            raise ConfigError(
                f"{where} `output-format` must be one of {', '.join(OUTPUT_FORMATS)}, got {table['output-format']!r}"
            )
        kwargs["output_format"] = table["output-format"]
        kwargs["output_format_set"] = True
    if "target-version" in table:
        kwargs["target_version"] = target_version_or_error(table["target-version"], f"{where} `target-version`")
    elif config_file.is_file():
        kwargs["target_version"] = requires_python_target(config_file)
    if "target-torch-version" in table:
        from freezelint.static.input.torch_target import parse_version

        kwargs["target_torch_version"] = parse_version(table["target-torch-version"])
        if kwargs["target_torch_version"] is None:
            raise ConfigError(f"{where} `target-torch-version` must be a version such as \"1.13\", got {table['target-torch-version']!r}")
    if "docs-url" in table:
        kwargs["docs_url"] = table["docs-url"].rstrip("/")
    if "max-file-size" in table:
        kwargs["max_file_size"] = table["max-file-size"]
    if "respect-gitignore" in table:
        kwargs["respect_gitignore"] = table["respect-gitignore"]
    return Settings(**kwargs)


def find_config(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml at or above `start` that has a [tool.freezelint] table."""
    d = start if start.is_dir() else start.parent
    d = Path(os.path.abspath(d))
    for folder in (d, *d.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and load_pyproject(candidate) is not None:
            return candidate
    return None


def find_requires_python(start: Path) -> Optional[Tuple[int, int]]:
    """The target of the nearest pyproject.toml that says `requires-python` (no freezelint table needed)."""
    d = Path(os.path.abspath(start if start.is_dir() else start.parent))
    for folder in (d, *d.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            target = requires_python_target(candidate)
            if target is not None:
                return target
    return None


@dataclass(frozen=True)
class Overrides:
    """Command-line flags; they win over the config file."""

    select: Optional[Tuple[str, ...]] = None
    extend_select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    output_format: Optional[str] = None
    config_file: Optional[Path] = None
    isolated: bool = False
    target_version: Optional[Tuple[int, int]] = None


class ConfigResolver:
    """Settings per folder, each from its nearest config, with the CLI's overrides applied."""

    def __init__(self, overrides: Overrides = Overrides()):
        self.overrides = overrides
        self._by_dir: Dict[str, Settings] = {}
        self._by_file: Dict[Path, Settings] = {}
        self._fixed: Optional[Settings] = None
        if overrides.isolated:
            self._fixed = self._apply(Settings())
        elif overrides.config_file is not None:
            self._fixed = self._from_file(overrides.config_file, required=True)

    def _from_file(self, path: Path, required: bool = False) -> Settings:
        path = Path(os.path.abspath(path))
        if path not in self._by_file:
            if required and not path.is_file():
                raise ConfigError(f"{path}: config file not found")
            table = load_pyproject(path)
            if table is None and required:
                table = {}
            self._by_file[path] = self._apply(settings_from_table(table or {}, path))
        return self._by_file[path]

    def _apply(self, s: Settings) -> Settings:
        o = self.overrides
        changes: Dict[str, object] = {}
        if o.select is not None:
            changes["select"] = o.select
        if o.extend_select:
            changes["extend_select"] = s.extend_select + o.extend_select
        if o.ignore:
            changes["ignore"] = s.ignore + o.ignore
        if o.output_format is not None:
            changes["output_format"] = o.output_format
            changes["output_format_set"] = True
        if o.target_version is not None:
            changes["target_version"] = o.target_version
        return replace(s, **changes) if changes else s

    def for_path(self, path: str) -> Settings:
        if self._fixed is not None:
            return self._fixed
        d = os.path.dirname(os.path.abspath(path)) if not os.path.isdir(path) else os.path.abspath(path)
        return self._for_dir(d)

    def _for_dir(self, d: str) -> Settings:
        if d in self._by_dir:
            return self._by_dir[d]
        parent = os.path.dirname(d)
        if parent != d and not os.path.isfile(os.path.join(d, "pyproject.toml")):
            # no pyproject.toml here: the nearest one above decides, as it does for the parent
            s = self._by_dir[d] = self._for_dir(parent)
            return s
        cfg = find_config(Path(d))
        if cfg is not None:
            s = self._from_file(cfg)
        else:
            s = self._apply(Settings(target_version=find_requires_python(Path(d))))
        self._by_dir[d] = s
        return s
