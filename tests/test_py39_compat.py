"""freezelint declares `requires-python = ">=3.9"`. No 3.9 interpreter can be installed
here (no network beyond PyPI), so this proves what can be proved statically, on every
module of the package and, for imports, on every module `freezelint check` loads:

- it parses as Python 3.9 (`ast.parse(feature_version=(3, 9))`);
- each module-level import is a 3.9 standard-library module or a core dependency from
  pyproject.toml; `tomllib` (3.11) only under a `sys.version_info >= (3, 11)` test
  whose else branch imports `tomli`, which is declared for `python_version < '3.11'`;
- no use of names added after 3.9 (a list of the likely ones: `zip(strict=)`,
  `dataclass(slots=/kw_only=)`, 3.10+ typing names, `ast.Match*`, ...), and `X | Y`
  in annotations only with `from __future__ import annotations`.
"""

import ast
import json
import os
import re
import subprocess
import sys

import pytest

from cli_support import BAD, ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE = os.path.join(ROOT, "freezelint")
ADDED_AFTER_39_STDLIB = {"tomllib"}
NEW_TYPING = {"TypeAlias", "ParamSpec", "Concatenate", "TypeGuard", "Self", "LiteralString", "Never",
              "assert_never", "reveal_type", "Required", "NotRequired", "Unpack", "TypeVarTuple",
              "override", "dataclass_transform", "is_typeddict", "get_overloads", "assert_type"}
NEW_ATTRIBUTES = {
    ("itertools", "pairwise"), ("datetime", "UTC"), ("enum", "StrEnum"), ("enum", "verify"),
    ("asyncio", "TaskGroup"), ("asyncio", "timeout"), ("contextlib", "chdir"), ("math", "cbrt"),
    ("ast", "Match"), ("ast", "match_case"), ("ast", "MatchValue"), ("ast", "MatchSingleton"),
    ("ast", "MatchSequence"), ("ast", "MatchMapping"), ("ast", "MatchClass"), ("ast", "MatchStar"),
    ("ast", "MatchAs"), ("ast", "MatchOr"), ("ast", "TryStar"), ("ast", "TypeAlias"), ("ast", "TypeVar"),
    ("ast", "ParamSpec"), ("ast", "TypeVarTuple"),
}
NEW_BUILTINS = {"aiter", "anext", "EncodingWarning", "ExceptionGroup", "BaseExceptionGroup"}


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT), path


def _requirement_name(req):
    return re.split(r"[\s;<>=!~\[@]", req, 1)[0].lower().replace("-", "_")


@pytest.fixture(scope="module")
def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)["project"]


@pytest.fixture(scope="module")
def check_modules(tmp_path_factory):
    """The freezelint modules a real `freezelint check` run imports."""
    f = tmp_path_factory.mktemp("py39") / "m.py"
    f.write_text(BAD)
    code = (
        "import sys, json\nfrom freezelint.cli import main\n"
        f"try:\n    main(['check', {str(f)!r}, '-q', '--no-cache', '--output-format', 'full'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'freezelint' or m.startswith('freezelint.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


# Known breaks on 3.9, reported to their owner; strict: the xfail must go once fixed.
KNOWN_39_BREAKS: dict = {}


def _cases():
    for rel, path in _modules():
        reason = KNOWN_39_BREAKS.get(rel.replace(os.sep, "/"))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        yield pytest.param(rel, path, id=rel, marks=marks)


@pytest.mark.parametrize("rel, path", list(_cases()))
def test_parses_as_python_39(rel, path):
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    ast.parse(source, filename=rel, feature_version=(3, 9))
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    problems = []
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
                 for n in tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            kws = {k.arg for k in node.keywords}
            if name == "zip" and "strict" in kws:
                problems.append(f"{node.lineno}: zip(strict=) is 3.10+")
            if name == "dataclass" and kws & {"slots", "kw_only", "match_args"}:
                problems.append(f"{node.lineno}: dataclass({', '.join(kws & {'slots', 'kw_only', 'match_args'})}=) is 3.10+")
        if isinstance(node, ast.ImportFrom) and node.module in ("typing",):
            problems += [f"{node.lineno}: typing.{a.name} is 3.10+" for a in node.names if a.name in NEW_TYPING]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (node.value.id, node.attr) in NEW_ATTRIBUTES:
            if not _guarded_by_hasattr(node, parents):
                problems.append(f"{node.lineno}: {node.value.id}.{node.attr} is 3.10+ (guard it with hasattr)")
        if isinstance(node, ast.Name) and node.id in NEW_BUILTINS:
            problems.append(f"{node.lineno}: {node.id} is 3.10+")
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations += [a.annotation for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs] + [node.returns]
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for ann in filter(None, annotations):
            if not future and any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(ann)):
                problems.append(f"{node.lineno}: `X | Y` annotation without `from __future__ import annotations`")
    assert not problems, f"{rel}: " + "; ".join(problems)


def _guarded_by_hasattr(node, parents):
    """Inside the true branch of `if hasattr(mod, "name")` / `x if hasattr(...) else y`."""
    want = f"hasattr({node.value.id}, '{node.attr}')"
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.If, ast.IfExp)) and want in ast.unparse(parent.test).replace('"', "'"):
            true_branch = parent.body if isinstance(parent, ast.If) else [parent.body]
            if child in true_branch:
                return True
        child, parent = parent, parents.get(parent)
    return False


def _guarded_tomllib(tree):
    """Every `import tomllib` sits under `if sys.version_info >= (3, 11):` whose else imports tomli."""
    ok, bad = 0, 0
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "version_info" in ast.unparse(node.test):
            body_names = {a.name for n in node.body if isinstance(n, ast.Import) for a in n.names}
            else_names = {a.name for n in node.orelse if isinstance(n, ast.Import) for a in n.names}
            if "tomllib" in body_names and "tomli" in else_names and "(3, 11)" in ast.unparse(node.test):
                ok += 1
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "tomllib" for a in node.names):
            bad += 1
    return ok == bad


def test_static_path_imports_exist_on_39(check_modules, pyproject):
    core = {_requirement_name(r) for r in pyproject["dependencies"]}
    stdlib = set(sys.stdlib_module_names) - ADDED_AFTER_39_STDLIB
    problems = []
    for mod in check_modules:
        rel = mod.replace(".", os.sep)
        path = os.path.join(ROOT, rel + ".py")
        if not os.path.isfile(path):
            path = os.path.join(ROOT, rel, "__init__.py")
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        if not _guarded_tomllib(tree):
            problems.append(f"{mod}: tomllib imported without the version guard and tomli fallback")
        for node in tree.body:  # module level: what importing the module needs
            stmts = [node] + (node.body + node.orelse if isinstance(node, ast.If) else [])
            for stmt in stmts:
                names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else (
                    [stmt.module] if isinstance(stmt, ast.ImportFrom) and stmt.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in ("freezelint", "__future__") or top in stdlib or top in core:
                        continue
                    if top == "tomllib" or top == "tomli":
                        continue  # checked by the guard above and the marker below
                    problems.append(f"{mod}: imports {name}, neither 3.9 stdlib nor a core dependency")
    assert not problems, "\n".join(problems)


def test_tomli_is_declared_for_old_pythons(pyproject):
    tomli = [r for r in pyproject["dependencies"] if _requirement_name(r) == "tomli"]
    assert len(tomli) == 1
    marker = tomli[0].split(";", 1)[1].replace('"', "'").replace(" ", "")
    assert marker == "python_version<'3.11'"
    assert pyproject["requires-python"] == ">=3.9"


def test_config_loads_with_tomli_instead_of_tomllib(tmp_path):
    """What a 3.9/3.10 interpreter does: import config.py with tomllib unavailable and
    sys.version_info below 3.11, then read a pyproject.toml through tomli."""
    pytest.importorskip("tomli")
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint]\nselect = ["FRZ001"]\n')
    code = (
        "import sys\n"
        "sys.modules['tomllib'] = None\n"
        "real = sys.version_info\n"
        "class V(tuple):\n    major, minor = 3, 10\n"
        "sys.version_info = V((3, 10, 0, 'final', 0))\n"
        "import freezelint.config as c\n"
        "sys.version_info = real\n"
        "print(c.tomllib.__name__)\n"
        f"print(c.load_pyproject(__import__('pathlib').Path({str(tmp_path / 'pyproject.toml')!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["tomli", "{'select': ['FRZ001']}"]
