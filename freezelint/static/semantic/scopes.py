"""One light pass over a file's `ast`: scopes, bindings, classes, imports and call sites.

This replaces libcst's Scope and QualifiedName providers, which cost several
parses per file; `facts.FileFacts` evaluates kinds lazily on top of it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from freezelint.static.parse.astutil import dotted_name, unquoted
from freezelint.static.semantic.evidence import EVAL_CALL, HOLDS_A_LAYER
from freezelint.static.semantic.kinds import CLASS, CONTAINER, FUNC, K_MODULE, K_OTHER, K_TENSOR, REF, UNKNOWN, Kind


# How a binding takes effect, for `reaching.Reaching` (which bindings may reach a use).
STRAIGHT = 0  # at the end of `site` (a statement, a walrus, a with-item target); later ones kill it
MAYBE = 1  # at the end of `site`, but it may not run (a walrus) or not bind (a bare annotation): kills nothing
STICKY = 2  # global/nonlocal: reaches every use, as before kinds were flow-sensitive
COMPREHENSION = 3  # local to the comprehension `site`
LOOP_TARGET = 4  # at the start of each iteration of the loop `site`
HANDLER = 5  # at the start of the except handler `site`


@dataclass
class Binding:
    expr: Optional[ast.AST]  # the value expression (None: see `kind`)
    scope: "Scope"
    iterate: bool = False  # the name is bound to an element of expr (for-loop, comprehension)
    path: Tuple[int, ...] = ()  # index path when unpacked from a tuple target
    kind: Optional[Kind] = None  # a precomputed kind (imports, defs, annotations)
    site: Optional[ast.AST] = None  # where it takes effect (see `how`); None: a parameter, at the scope's start
    how: int = STRAIGHT
    target: Optional[ast.AST] = None  # the Name node bound


@dataclass
class Scope:
    node: ast.AST  # Module, FunctionDef, AsyncFunctionDef or Lambda
    parent: Optional["Scope"]
    class_name: Optional[str] = None  # the class a method belongs to
    bindings: Dict[str, List[Binding]] = field(default_factory=dict)
    params: List[Tuple[str, Optional[ast.AST], ast.arg]] = field(default_factory=list)  # (name, annotation, arg)
    func_name: Optional[str] = None
    dels: Dict[str, List[Binding]] = field(default_factory=dict)  # `del name`: kills, binds nothing
    stars: List[str] = field(default_factory=list)  # `from pkg import *`: the packages, in order

    def bind(self, name: str, binding: Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


@dataclass
class ClassInfo:
    name: str
    node: ast.ClassDef
    bases: List[ast.AST]
    self_attrs: Dict[str, List[Binding]] = field(default_factory=dict)
    body_names: Set[str] = field(default_factory=set)  # methods, properties, class attributes


def annotation_kind(ann: Optional[ast.AST]) -> Optional[Kind]:
    """nn.Module / torch.Tensor / nn.Parameter annotations, also inside Optional[...] and strings."""
    ann = unquoted(ann)
    if ann is None:
        return None
    if isinstance(ann, ast.Subscript):
        name = dotted_name(ann.value)
        if name and name.rsplit(".", 1)[-1] == "Optional":
            return annotation_kind(ann.slice)
        return None
    name = dotted_name(ann)
    if not name:
        return None
    last = name.rsplit(".", 1)[-1]
    if last in ("Module", "Sequential", "ModuleList") and (name in ("Module", "Sequential", "ModuleList") or "nn" in name):
        return Kind(CONTAINER) if last != "Module" else K_MODULE
    if last in ("Tensor", "Parameter"):
        return K_TENSOR
    return None


def _is_identity_layer(expr) -> bool:
    return isinstance(expr, ast.Call) and (dotted_name(expr.func) or "").rsplit(".", 1)[-1] == "Identity"


class FactsCollector:
    """Records scopes, bindings, classes, imports and call sites in one walk."""

    def __init__(self, module: ast.Module):
        self.module_scope = Scope(module, None)
        self.scope_of: Dict[int, Scope] = {id(module): self.module_scope}
        self.scopes: List[Scope] = [self.module_scope]
        self.classes: Dict[str, List[ClassInfo]] = {}
        self.class_stack: List[ClassInfo] = []
        self.functions: Dict[str, List[ast.AST]] = {}
        self.calls: Dict[str, List[Tuple[ast.Call, Scope]]] = {}
        self.attr_loads: Set[str] = set()  # attribute names read anywhere in the file
        self.self_attr_loads: Dict[str, Set[str]] = {}  # class -> self.<attr> read in it
        # id(scope node) -> attribute names and called names used directly in that scope (flow's cheap gate)
        self.scope_words: Dict[int, Set[str]] = {}
        self._loops: List[ast.AST] = []
        self.assigned_in_loop: Dict[int, Set[str]] = {}  # id(For) -> names rebound inside its body
        self.name_methods: Dict[Tuple[int, str], Set[str]] = {}  # (id(scope node), name) -> methods called on it
        # (class, attr) -> methods called on `self.attr` anywhere in the class (duck evidence for attributes)
        self.self_attr_methods: Dict[Tuple[str, str], Set[str]] = {}
        self.compile_calls: List[ast.Call] = []  # calls of an attribute named `compile`
        # (id(scope node), name) -> lists appended/extended/added to it (`groups.append({...})`), as list expressions
        self.list_growth: Dict[Tuple[int, str], List[ast.AST]] = {}
        self._pops: Dict[int, str] = {}  # id(node) -> what to pop when leaving it
        # id(scope node) -> its compound statements (if/loops/try/match/class bodies), outer ones first
        self.compounds: Dict[int, List[ast.AST]] = {}
        self._comps: List[ast.AST] = []  # enclosing comprehensions

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    def on_visit(self, node: ast.AST):
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            return handler(self, node)
        return None

    def on_leave(self, node: ast.AST) -> None:
        what = self._pops.pop(id(node), None)
        if what == "scope":
            self.scopes.pop()
        elif what == "class":
            self.class_stack.pop()
        elif what == "loop":
            self._loops.pop()
        elif what == "comp":
            self._comps.pop()

    # walk.py calls nothing at a node class without a handler (most expressions): the same
    # as on_visit/on_leave there, since only handlers record what to pop
    def visitor_for(self, cls: type):
        handler = _HANDLERS.get(cls)
        return None if handler is None else handler.__get__(self)

    def leaver_for(self, cls: type):
        return self.on_leave if cls in _HANDLERS else None

    def _bind_target(self, target: ast.AST, expr, iterate: bool, path=(), kind=None, site=None, how=STRAIGHT) -> None:
        if isinstance(target, ast.Name):
            self.scope.bind(target.id, Binding(expr, self.scope, iterate, path, kind, site, how, target))
            for loop in self._loops:
                if expr is not getattr(loop, "iter", None):
                    self.assigned_in_loop.setdefault(id(loop), set()).add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, el in enumerate(target.elts):
                if isinstance(el, ast.Starred):
                    self._bind_target(el.value, None, False, kind=UNKNOWN, site=site, how=how)
                else:
                    self._bind_target(el, expr, iterate, path + (i,), kind, site, how)
        elif isinstance(target, ast.Attribute):
            if _is_identity_layer(expr):  # `x.fc = nn.Identity()`: a layer removed from a Module
                self._record_method(target.value, HOLDS_A_LAYER)
            if (
                isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and self.class_stack
                and self.scope.class_name == self.class_stack[-1].name
            ):
                info = self.class_stack[-1]
                info.self_attrs.setdefault(target.attr, []).append(Binding(expr, self.scope, iterate, path, kind))
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, None, False, kind=UNKNOWN, site=site, how=how)

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.scope.bind(alias.asname, Binding(None, self.scope, kind=Kind(REF, alias.name), site=node))
            else:
                top = alias.name.split(".")[0]
                self.scope.bind(top, Binding(None, self.scope, kind=Kind(REF, top), site=node))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = None if node.level or not node.module else node.module
        for alias in node.names:
            if alias.name == "*":
                if base:  # a name bound nowhere may come from it (facts asks the knowledge base)
                    self.scope.stars.append(base)
                return
            local = alias.asname or alias.name
            qual = f"{base}.{alias.name}" if base else alias.name  # relative import: the bare name
            self.scope.bind(local, Binding(None, self.scope, kind=Kind(REF, qual), site=node))

    # definitions
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        info = ClassInfo(node.name, node, list(node.bases))
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                info.body_names.add(stmt.name)
            elif isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    if isinstance(t, ast.Name):
                        info.body_names.add(t.id)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                info.body_names.add(stmt.target.id)
        self.classes.setdefault(info.name, []).append(info)
        self.scope.bind(info.name, Binding(None, self.scope, kind=Kind(CLASS, info.name), site=node))
        self.compounds.setdefault(id(self.scope.node), []).append(node)  # its body runs in this scope
        self.class_stack.append(info)
        self._pops[id(node)] = "class"

    def visit_FunctionDef(self, node) -> None:
        self.functions.setdefault(node.name, []).append(node)
        self.scope.bind(node.name, Binding(None, self.scope, kind=Kind(FUNC, node.name), site=node))
        in_class = bool(self.class_stack) and any(s is node for s in self.class_stack[-1].node.body)
        new = Scope(node, self.scope, self.class_stack[-1].name if in_class else None, func_name=node.name)
        self._add_params(new, node.args)
        self.scope_of[id(node)] = new
        self._enter(node, new)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        new = Scope(node, self.scope)
        self._add_params(new, node.args, annotations=False)
        self.scope_of[id(node)] = new
        self._enter(node, new)

    def _add_params(self, scope: Scope, args: ast.arguments, annotations: bool = True) -> None:
        for p in list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs):
            scope.params.append((p.arg, p.annotation if annotations else None, p))
        for p in (args.vararg, args.kwarg):
            if p is not None:
                scope.bind(p.arg, Binding(None, scope, kind=UNKNOWN))

    def _enter(self, node: ast.AST, scope: Scope) -> None:
        # Decorators, defaults and annotations belong to the enclosing scope, but are rarely
        # interesting; everything below the def is attributed to the new scope.
        self.scopes.append(scope)
        self._pops[id(node)] = "scope"

    # bindings
    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._bind_target(t, node.value, False, site=node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value, False, site=node)
        else:
            ann = annotation_kind(node.annotation)
            if ann is not None:
                self._bind_target(node.target, None, False, kind=ann, site=node, how=MAYBE)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target, node.value, False, site=node, how=MAYBE)

    def visit_For(self, node) -> None:
        self._bind_target(node.target, node.iter, True, site=node, how=LOOP_TARGET)
        self.compounds.setdefault(id(self.scope.node), []).append(node)
        self._loops.append(node)
        self._pops[id(node)] = "loop"

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node: ast.comprehension) -> None:
        site = self._comps[-1] if self._comps else None
        self._bind_target(node.target, node.iter, True, site=site, how=COMPREHENSION if site else STICKY)

    def _visit_comp(self, node) -> None:
        self._comps.append(node)
        self._pops[id(node)] = "comp"

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comp

    def _visit_compound(self, node) -> None:
        self.compounds.setdefault(id(self.scope.node), []).append(node)

    visit_If = visit_While = visit_Try = visit_Match = _visit_compound
    if hasattr(ast, "TryStar"):
        visit_TryStar = _visit_compound

    def visit_With(self, node) -> None:
        # `with suppress(...)`: its body may stop anywhere, so what it binds kills nothing after it
        if any(isinstance(i.context_expr, ast.Call) and (dotted_name(i.context_expr.func) or "").endswith("suppress") for i in node.items):
            self.compounds.setdefault(id(self.scope.node), []).append(node)

    visit_AsyncWith = visit_With

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._bind_target(node.optional_vars, None, False, kind=UNKNOWN, site=node.optional_vars)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.scope.bind(node.name, Binding(None, self.scope, kind=K_OTHER, site=node, how=HANDLER))

    def visit_Global(self, node) -> None:
        for n in node.names:  # too dynamic to reason about
            self.scope.bind(n, Binding(None, self.scope, kind=UNKNOWN, site=node, how=STICKY))

    visit_Nonlocal = visit_Global

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            if isinstance(t, ast.Name):
                self.scope.dels.setdefault(t.id, []).append(Binding(None, self.scope, site=node, target=t))

    # uses
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self.calls.setdefault(func.id, []).append((node, self.scope))
            self.scope_words.setdefault(id(self.scope.node), set()).add(func.id)
        if isinstance(func, ast.Attribute) and func.attr == "compile":
            self.compile_calls.append(node)  # `torch.compile(...)` candidates, for FRZ207 without a walk
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id.startswith("PeftModel"):
            # `PeftModelForCausalLM.from_pretrained(...)` wraps a model as `PeftModel(...)` does: the flow's word for both
            self.scope_words.setdefault(id(self.scope.node), set()).add("PeftModel")
        if isinstance(func, ast.Attribute):
            # duck typing evidence: the methods called on each name (per scope) and `self.x` (per class);
            # `x.eval()` with no argument is nn.Module.eval (TF1's tensor.eval(), pandas' df.eval(expr) differ)
            self._record_method(func.value, func.attr)
            if func.attr == "eval" and not node.args and not node.keywords:
                self._record_method(func.value, EVAL_CALL)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.attr in ("append", "extend") and len(node.args) == 1:
                item = node.args[0] if func.attr == "append" else node.args[0]
                wrapped = ast.List(elts=[item], ctx=ast.Load()) if func.attr == "append" else item
                self.list_growth.setdefault((id(self.scope.node), func.value.id), []).append(wrapped)

    def _record_method(self, recv: ast.AST, method: str) -> None:
        if isinstance(recv, ast.Name):
            self.name_methods.setdefault((id(self.scope.node), recv.id), set()).add(method)
        elif (isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == "self"
              and self.class_stack):
            self.self_attr_methods.setdefault((self.class_stack[-1].name, recv.attr), set()).add(method)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
            self.list_growth.setdefault((id(self.scope.node), node.target.id), []).append(node.value)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.scope_words.setdefault(id(self.scope.node), set()).add(node.attr)
        if not isinstance(node.ctx, ast.Load):
            return
        self.attr_loads.add(node.attr)
        if isinstance(node.value, ast.Name) and node.value.id == "self" and self.class_stack:
            self.self_attr_loads.setdefault(self.class_stack[-1].name, set()).add(node.attr)


# node class -> FactsCollector.visit_<name>, looked up once instead of per node
_HANDLERS = {
    getattr(ast, name[6:]): method
    for name, method in vars(FactsCollector).items()
    if name.startswith("visit_") and hasattr(ast, name[6:])
}
