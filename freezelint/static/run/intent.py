"""What a script's project declares frozen, read by the static pass: the intent `freezelint run` audits.

A declaration is what the code writes as a freeze, whether or not it works:

- a FREEZE / UNFREEZE event of the flow timelines (`requires_grad_(False)`, a loop setting
  `p.requires_grad = False` over a module's parameters, a freeze helper of this or another file,
  Lightning's `BaseFinetuning.freeze`), the whole of its target (not a name-selected subset);
- what the static rules judge a freeze that is a no-op: FRZ001 (`module.requires_grad = False`),
  FRZ002 (`module.requires_grad_ = False`), FRZ101 (`eval()` meant as a freeze).

The records (`freezelint.declarations.Declaration`) are plain data: the runtime maps their paths to
the model it audits. This is the static side of the seam; it never imports torch.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from freezelint.declarations import Declaration
from freezelint.static.run import engine
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import FUNCTION_NODES, SourceText, dotted_name
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.flow.file_flow import file_flow
from freezelint.static.semantic.project import ProjectIndex, module_name
from freezelint.static.input.project_root import MARKERS
from freezelint.static.input.source import SourceError

# Files without one of these words declare nothing (the cheap gate before a parse).
_WORDS = ("requires_grad", "freeze", ".eval(")
# Static rules whose findings are freezes written as no-ops.
_NOOP_RULES = {
    "FRZ001": "`.requires_grad = False` on a module sets a plain attribute (FRZ001)",
    "FRZ002": "`.requires_grad_ = False` overwrites the method (FRZ002)",
    "FRZ101": "`eval()` meant as a freeze (FRZ101)",
}
# A loop over these does not make a freeze conditional: it is how the freeze is written.
_PARAM_ITERS = frozenset({"parameters", "named_parameters", "modules", "named_modules", "children", "named_children"})
_PASS_THROUGH = frozenset({"enumerate", "list", "tuple", "reversed", "chain", "zip", "sorted", "filter"})
MAX_FILES = 400


def project_root_of(script: str) -> Optional[str]:
    """The nearest folder at or above the script holding a project marker (None: no project)."""
    d = os.path.dirname(os.path.abspath(script))
    while True:
        if any(os.path.lexists(os.path.join(d, m)) for m in MARKERS):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _project_files(script: str, root: Optional[str]) -> List[str]:
    script = os.path.abspath(script)
    if root is None:
        return [script]
    from freezelint.config import ConfigResolver
    from freezelint.static.input.discover import discover

    out = [script]
    try:
        for path, _explicit in discover([root], ConfigResolver()):
            a = os.path.abspath(path)
            if a.endswith(".py") and a != script:
                out.append(a)
                if len(out) > MAX_FILES:
                    return [script]  # too large a tree to read before a run: the script alone
    except Exception:
        return [script]
    return out


def _read(path: str) -> Optional[str]:
    try:
        return engine.read_source(path, 10 * 1024 * 1024).text
    except (SourceError, OSError):
        return None


def read_intent(script: str) -> List[Declaration]:
    """Declarations in the script and the project around it (helpers and Module classes of other files count)."""
    root = project_root_of(script)
    texts: Dict[str, str] = {}
    for path in _project_files(script, root):
        text = _read(path)
        if text is not None:
            texts[_shown(path)] = text
    return _declarations(texts, root or os.path.dirname(os.path.abspath(script)))


def _shown(path: str) -> str:
    """Relative to the working directory when below it (as `check` prints paths)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def read_text_intent(text: str, name: str = "<notebook>") -> List[Declaration]:
    """Declarations in one source text (a notebook's executed cells)."""
    return _declarations({name: text}, None)


def _declarations(texts: Dict[str, str], root: Optional[str]) -> List[Declaration]:
    summaries, modules = [], []
    for path, text in texts.items():
        summaries.append(engine.summarize_text(text))
        modules.append(module_name(path, root) if root else os.path.splitext(os.path.basename(path))[0])
    project = ProjectIndex.build(summaries, modules, root)
    out: List[Declaration] = []
    for (path, text), mod in zip(texts.items(), modules):
        if not any(w in text for w in _WORDS):
            continue
        try:
            out.extend(_file_declarations(path, text, project, mod))
        except (SourceError, RecursionError):
            continue
    seen = set()
    unique = []
    for d in out:
        key = (d.kind, d.path, d.file, d.line, d.class_name)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def _noop_lines(path: str, text: str, project: ProjectIndex) -> Dict[int, str]:
    """line -> code of the static findings that are freezes written as no-ops."""
    findings = engine.lint_text(path, text, engine.rule_classes_for(_NOOP_RULES), project)
    return {f.line: f.code for f in findings}


def _file_declarations(path: str, text: str, project: ProjectIndex, mod: str) -> List[Declaration]:
    tree = engine.parse(text)
    source = SourceText(text)
    facts = FileFacts(tree, source, project, mod)
    lines = text.splitlines()
    owner = _owners(tree)
    loops = {id(n): n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.AsyncFor, ast.While))}
    noop = _noop_lines(path, text, project)
    out: List[Declaration] = []

    def make(kind, target, node, how, func, conditional):
        cls = owner.get(id(func)) if func is not None else None
        line = getattr(node, "lineno", 1)
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        fname = func.name if func is not None else None
        return Declaration(kind, target, path, line, getattr(node, "col_offset", 0) + 1, how, code, cls, fname, conditional)

    for tl in file_flow(facts).all_timelines():
        func = tl.node if isinstance(tl.node, FUNCTION_NODES) else None
        params = _param_names(func)
        for e in tl.events:
            if not e.target:
                continue
            if e.kind in (flow.FREEZE, flow.UNFREEZE):
                if not e.whole:
                    continue  # a subset chosen by name: no path names it
                how = "freeze" if e.kind == flow.FREEZE else "unfreeze"
                kind = "frozen" if e.kind == flow.FREEZE else "trainable"
            elif e.kind == flow.EVAL and noop.get(_line(e)) == "FRZ101":
                how, kind = _NOOP_RULES["FRZ101"], "frozen"
            else:
                continue
            root = e.target.split(".", 1)[0]
            if func is not None and root in params and id(func) not in owner:
                continue  # a plain helper's parameter: its call sites carry the event, re-targeted
            if e.via:
                how += f" (through `{e.via}`)"
            out.append(make(kind, e.target, e.stmt or e.node, how, func, _conditional(e, loops)))

    for node, func in _assignments(tree):
        code = noop.get(node.lineno)
        if code not in ("FRZ001", "FRZ002"):
            continue
        for t in node.targets:
            if isinstance(t, ast.Attribute) and t.attr in ("requires_grad", "requires_grad_"):
                target = dotted_name(t.value)
                value = node.value.value if isinstance(node.value, ast.Constant) else None
                if target is None or value not in (True, False):
                    continue
                kind = "frozen" if value is False else "trainable"
                out.append(make(kind, target, node, _NOOP_RULES[code], func, _stmt_conditional(node, tree)))
    return out


def _line(e: flow.Event) -> int:
    return getattr(e.node, "lineno", 0)


def _param_names(func) -> List[str]:
    if func is None:
        return []
    a = func.args
    return [p.arg for p in list(a.posonlyargs) + list(a.args) + list(a.kwonlyargs)]


def _owners(tree: ast.Module) -> Dict[int, str]:
    """id(method) -> the name of the class it is defined in (directly)."""
    out: Dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for st in node.body:
                if isinstance(st, FUNCTION_NODES):
                    out[id(st)] = node.name
    return out


def _assignments(tree: ast.Module) -> Iterable[Tuple[ast.Assign, Optional[ast.AST]]]:
    """Every assignment with the function it is in (None: module level)."""

    def walk(node, func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Assign):
                yield child, func
            yield from walk(child, child if isinstance(child, FUNCTION_NODES) else func)

    yield from walk(tree, None)


def _iter_is_structural(it: ast.AST) -> bool:
    """A loop over a module's parameters or submodules (or a literal list of them): how a freeze is written."""
    if isinstance(it, (ast.List, ast.Tuple, ast.Attribute, ast.Subscript)):
        return True
    if isinstance(it, ast.Call):
        fn = it.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        if name in _PARAM_ITERS:
            return True
        if name in _PASS_THROUGH:
            return bool(it.args) and all(_iter_is_structural(a) for a in it.args)
    return False


def _conditional(e: flow.Event, loops: Dict[int, ast.AST]) -> bool:
    """Under an `if`/`try`/`match` arm, or inside a loop that repeats it over time (epochs, batches)."""
    if e.branches:
        return True
    for lid in e.loops:
        loop = loops.get(lid)
        if not isinstance(loop, (ast.For, ast.AsyncFor)) or not _iter_is_structural(loop.iter):
            return True
    return False


def _stmt_conditional(stmt: ast.stmt, tree: ast.Module) -> bool:
    """The same question for a statement found without a timeline: is it inside an if/while/try or a time loop?"""
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.Try, ast.For, ast.AsyncFor)) and node is not stmt:
            if isinstance(node, (ast.For, ast.AsyncFor)) and _iter_is_structural(node.iter):
                continue
            end = getattr(node, "end_lineno", node.lineno)
            if node.lineno < stmt.lineno <= end:
                return True
    return False


def describe(decls: Sequence[Declaration]) -> List[str]:
    """`train.py:17: frozen model.backbone (freeze)` lines, for reports and tests."""
    return [f"{d.where}: {d.kind} {d.path} ({d.how})" + (" [conditional]" if d.conditional else "") for d in decls]


__all__ = ["describe", "project_root_of", "read_intent", "read_text_intent"]
