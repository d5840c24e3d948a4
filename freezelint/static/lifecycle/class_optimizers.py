"""A LightningModule's optimizers against its submodules: which `self.<attr>` trains without an optimizer.

FRZ208's class form asks this of each class of the linted file that defines
`configure_optimizers`. The answer joins three sources:

- the optimizers built in `configure_optimizers` (flow timelines: every `self.<path>` they
  take, `params += list(...)` included);
- the class hierarchy across files (`project_modes.ClassTable`): the submodules each class
  builds (`self.x = Ctor(...)`), what each one's methods freeze or pin in eval
  (`summary_freezes`), whether a class freezes itself wholesale;
- this class's own methods: whether a submodule runs with gradients enabled (a call of
  `self.x...` or of a local bound to it, outside `torch.no_grad()`).

It stays silent whenever a source is unknown: an optimizer over something that is not a
`self.<path>`, a class in the hierarchy that freezes what cannot be pinned to one attribute,
an attribute name written next to a freeze anywhere in the project (a script may freeze it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import dotted_name
from freezelint.static.flow.file_flow import FileFlow
from freezelint.static.flow.params import grad_mode_of
from freezelint.static.lifecycle.hooks import LIGHTNING_BASES
from freezelint.static.semantic.project_modes import ClassFacts, ClassTable

_SKIP_METHODS = frozenset({"__init__", "configure_optimizers"})
_MAX_DEPTH = 4


@dataclass
class Untrained:
    attr: str  # the `self.<attr>` submodule
    opt: flow.Event  # where the finding points: an optimizer of `configure_optimizers`
    covered: List[str] = field(default_factory=list)  # the paths below the attribute an optimizer takes
    run_in: str = ""  # the method that runs it with gradients
    condition: str = ""  # the `if` test the covered paths are taken under, if all are ("" : none)


def untrained_submodules(flow_: FileFlow, cls: ast.ClassDef) -> List[Untrained]:
    facts = flow_.facts
    fn = next((m for m in cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
               and m.name == "configure_optimizers"), None)
    if fn is None:
        return []
    table = facts.project.class_table
    q = table.find(f"{facts.module_name}.{cls.name}" if facts.module_name else cls.name)
    if q is None:
        return []
    chain = _hierarchy(table, q)
    if not any(b.rsplit(".", 1)[-1] in LIGHTNING_BASES for c in chain for b in c.bases):
        return []
    if any(c.freezes_self for c in chain):
        return []
    tl = flow_.timeline(fn)
    if not tl.of(flow.OPT):
        tl = flow_.timeline(fn, follow=False)
    opts = tl.of(flow.OPT)
    if not opts:
        return []
    covered: Dict[str, List[Tuple[str, flow.Event]]] = {}  # attr -> [(path below it, or "" for all of it)]
    for o in opts:
        if not o.over:
            return []
        for path, how in o.over:
            parts = flow.segments(path) if path else []
            if len(parts) < 2 or parts[0] != "self" or "*" in parts:
                return []  # the whole module, or something that is not one of its submodules
            below = ".".join(parts[2:]) if how == flow.ALL else ""
            covered.setdefault(parts[1], []).append((below, o))
    frozen = {a for c in chain for a in c.frozen_attrs}
    words = facts.project.freeze_words
    containers = {a for c in chain for a in c.param_containers}
    attrs: Dict[str, str] = {}
    for c in chain:
        for a, ctor in c.attrs:
            if not ctor.startswith("self."):  # `self.model = self.model.cuda()` builds nothing
                attrs.setdefault(a, ctor)
    out: List[Untrained] = []
    runs: Optional[Dict[str, str]] = None
    for attr, ctor in attrs.items():
        paths = covered.get(attr, [])
        if attr in frozen or attr in words or any(p == "" for p, _ in paths):
            continue
        if not paths and attr not in containers and not _has_params(table, ctor, 0):
            continue
        if paths and (_freezes_itself(table, ctor) or not _more_than(table, ctor, [p for p, _ in paths])):
            continue
        if runs is None:
            runs = _runs_with_grad(facts, cls)
        if attr not in runs:
            continue
        opt = paths[0][1] if paths else opts[0]
        below = list(dict.fromkeys(f"self.{attr}.{p}" for p, _ in paths))
        out.append(Untrained(attr, opt, below, runs[attr], _condition(facts, fn, below)))
    return out


def _condition(facts, fn: ast.AST, paths: List[str]) -> str:
    """The test of the one `if` of `fn` under which every path is taken, if there is such an `if`."""
    if not paths:
        return ""
    for node in ast.walk(fn):
        if isinstance(node, ast.If):
            inside = {dotted_name(n) for st in node.body for n in ast.walk(st) if isinstance(n, ast.Attribute)}
            if all(p in inside for p in paths):
                return facts.code(node.test).strip()
    return ""


def _hierarchy(table: ClassTable, q: str) -> List[ClassFacts]:
    """The class and its project bases, nearest first (`ClassTable.mro`)."""
    return [table.classes[c] for c in table.mro(q)]


def _freezes_itself(table: ClassTable, ctor: str) -> bool:
    q = table.find(ctor)
    if q is None:
        return False
    return _pins_itself(_hierarchy(table, q))


def _pins_itself(chain: List[ClassFacts]) -> bool:
    """Some class of the hierarchy freezes or pins in eval a part of itself (or all of it)."""
    return any(c.freezes_self or c.frozen_attrs for c in chain)


def _more_than(table: ClassTable, ctor: str, below: List[str]) -> bool:
    """The submodule certainly holds parameters outside the paths below it that an optimizer takes.

    Picking blocks two levels down (`unet.diffusion_model.output_blocks`) leaves the rest of that network
    out; picking one attribute (`llm.model`) may take all there is, unless the class builds another
    attribute that holds parameters."""
    if any(p.count(".") >= 1 for p in below):
        return True
    q = table.find(ctor)
    if q is None:
        return False
    taken = {p.split(".", 1)[0] for p in below}
    return any(a not in taken and _has_params(table, c2, 1) for c in _hierarchy(table, q) for a, c2 in c.attrs)


def _has_params(table: ClassTable, ctor: str, depth: int) -> bool:
    """Built by `ctor`, the submodule certainly holds parameters that require grad (unless frozen later)."""
    if depth > _MAX_DEPTH:
        return False
    q = table.find(ctor)
    if q is None:
        if not ctor.startswith("torch.nn."):
            return False  # another library's class may freeze itself: not certain
        from freezelint.static import knowledge

        info = knowledge.module_class(ctor)
        return bool(info is not None and info.has_params)
    chain = _hierarchy(table, q)
    if not chain or _pins_itself(chain):
        return False
    if any(c.param_containers for c in chain):
        return True
    return any(_has_params(table, c2, depth + 1) for c in chain for _, c2 in c.attrs) or any(
        b.startswith("torch.nn.") and _has_params(table, b, depth + 1) for c in chain for b in c.bases)


def _runs_with_grad(facts, cls: ast.ClassDef) -> Dict[str, str]:
    """attr -> a method of the class that calls `self.<attr>...` (or a local bound to it) with grad enabled."""
    out: Dict[str, str] = {}
    for m in cls.body:
        if not isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) or m.name in _SKIP_METHODS:
            continue
        scope = facts.scope_of.get(id(m), facts.module_scope)
        if any(grad_mode_of(facts, d, scope) in flow.NO_GRAD_MODES for d in m.decorator_list):
            continue
        aliases: Dict[str, str] = {}
        _scan(facts, scope, m.body, aliases, out, m.name)
    return out


def _scan(facts, scope, body: Sequence[ast.stmt], aliases: Dict[str, str], out: Dict[str, str], where: str) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            if any(grad_mode_of(facts, i.context_expr, scope) in flow.NO_GRAD_MODES for i in stmt.items):
                continue
            _scan(facts, scope, stmt.body, aliases, out, where)
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            attr = _self_path_attr(stmt.value)
            if attr is not None:
                aliases[stmt.targets[0].id] = attr
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if inner and isinstance(inner, list) and isinstance(inner[0], ast.stmt):
                _scan(facts, scope, inner, aliases, out, where)
        for h in getattr(stmt, "handlers", ()) or ():
            _scan(facts, scope, h.body, aliases, out, where)
        for node in _own_expressions(stmt):
            for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
                func = call.func
                # `self.x(...)` or a local bound to `self.x.sub` called: a forward, not a method of it
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
                    attr = func.attr
                elif isinstance(func, ast.Name):
                    attr = aliases.get(func.id)
                else:
                    continue
                if attr is not None:
                    out.setdefault(attr, where)


def _own_expressions(stmt: ast.stmt) -> List[ast.AST]:
    """The statement's expressions, not its nested statement blocks (those are scanned on their own)."""
    out = []
    for name, value in ast.iter_fields(stmt):
        if name in ("body", "orelse", "finalbody", "handlers"):
            continue
        if isinstance(value, ast.AST):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, ast.AST) and not isinstance(v, ast.stmt))
    return out


def _self_path_attr(expr: ast.AST) -> Optional[str]:
    """`self.x` / `self.x.y.z` (attributes only) -> "x"."""
    while isinstance(expr, ast.Attribute):
        if isinstance(expr.value, ast.Name) and expr.value.id == "self":
            return expr.attr
        expr = expr.value
    return None
