"""The house rules that keep freezelint easy to change: no import cycles (lazy and typing imports
count too), modules of a readable size."""

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "freezelint")
MAX_LINE_CHARS = 160
MAX_LINES = 420  # "~400": a module past this is split along a seam


def _modules():
    out = {}
    for dirpath, _dirs, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def _imports(name, path, modules):
    """freezelint modules this module imports anywhere: at load time, inside functions (lazy imports
    still make a dependency cycle), or for typing; relative imports resolved."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    deps = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module in modules:
                deps.add(module)
            deps.update(f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in modules)
    return deps


def _cycles(graph):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    modules = _modules()
    graph = {m: _imports(m, p, modules) - {m} for m, p in modules.items()}
    assert _cycles(graph) == []


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_size(name):
    path = _modules()[name]
    with open(path, encoding="utf-8") as fh:
        text = fh.read().splitlines()
    assert len(text) <= MAX_LINES, f"{name} has {len(text)} lines: split it along a seam"
    # lines are counted, so one very long line would hide a module's size: those are wrapped
    long = [(i, len(ln)) for i, ln in enumerate(text, 1) if len(ln) > MAX_LINE_CHARS]
    assert not long, f"{name}: lines over {MAX_LINE_CHARS} characters (line, length): {long}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


# The static pass's packages in pipeline order: a package imports only from its own layer or earlier
# ones, so the import graph shows the essential depth (parse -> summaries -> semantic -> flow ->
# lifecycle -> rules) and a question answered in one layer is never re-asked by an earlier one.
STATIC_LAYERS = [
    {"parse", "input", "knowledge"},
    {"summaries"},
    {"semantic"},
    {"flow"},
    {"lifecycle"},
    {"fix"},  # edits and codemod requests in `ast` terms, which rules attach to findings
    {"rules"},
    {"run"},
]


def _static_layer(module):
    parts = module.split(".")
    if parts[:2] != ["freezelint", "static"] or len(parts) < 3:
        return None
    return next(i for i, layer in enumerate(STATIC_LAYERS) if parts[2] in layer)


def test_static_packages_import_only_earlier_layers():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        layer = _static_layer(name)
        if layer is None:
            continue
        for dep in _imports(name, path, modules):
            dep_layer = _static_layer(dep)
            if dep_layer is not None and dep_layer > layer:
                upward.append(f"{name} -> {dep}")
    assert upward == []


def test_every_static_module_lives_in_a_pipeline_package():
    loose = [n for n in _modules() if n.startswith("freezelint.static.") and n.count(".") == 2 and _static_layer(n) is None]
    assert loose == [], "static modules belong in one of the pipeline packages"
