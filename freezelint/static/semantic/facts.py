"""What a name is: nn.Module, Parameter/Tensor, state_dict, optimizer, or unknown.

`scopes.FactsCollector` records imports, the bindings of every name per scope,
the `self.x` attributes of each class and the call sites of each local function
in one walk of the file's `ast`. `FileFacts.kind_of(expr, scope)` then evaluates
an expression's kind lazily and flow-sensitively: a name is a Module when every
binding of it that may reach this use is one (`reaching.py`). Conflicting or
missing evidence gives UNKNOWN, and rules stay silent on UNKNOWN.
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, List, Optional, Tuple, TypeVar

from freezelint.static.parse.astutil import FUNCTION_NODES, SourceText, dotted_name, has_star_args, keyword, positional
from freezelint.static.semantic import call_args
from freezelint.static.semantic.call_kinds import CallKinds
from freezelint.static.semantic.evidence import annotation_evidence, duck_kind
from freezelint.static.semantic.narrowing import isinstance_guards, narrowed_param, narrowing_test, union_narrowed
from freezelint.static.semantic.kinds import (
    CONTAINER, CONTAINER_ATTRS, K_MODULE, K_OTHER, K_TENSOR, LIST, MODULE, NEUTRAL, NEUTRAL_TAG,
    PARAMLESS_TORCH_MODULES, PARAM_CONTAINER, REF, SD_VALUE, STATE_DICT, SUBMODULE_ATTRS, TENSOR, TENSOR_ATTRS,
    TUPLE, UNKNOWN, Kind, element_kind, join,
)
from freezelint.static.semantic.project import ProjectIndex, base_is_module
from freezelint.static.semantic.reaching import Reaching
from freezelint.static.semantic.scopes import COMPREHENSION, Binding, ClassInfo, FactsCollector, Scope, annotation_kind
from freezelint.static.parse.walk import walk

__all__ = ["Binding", "ClassInfo", "FileFacts", "Kind", "Scope", "dotted_name", "isinstance_guards", "narrowing_test", "K_MODULE", "K_TENSOR"]


_T = TypeVar("_T")
_NO_CYCLE = 1 << 30
_ROUNDS = 4  # a cycle (a loop, bindings that refer to each other) that has not settled by then is UNKNOWN


class FileFacts(CallKinds):
    """Answers "what is this expression?" for the rules and the flow analysis."""

    def __init__(
        self,
        module: ast.Module,
        source: Optional[SourceText] = None,
        project: Optional[ProjectIndex] = None,
        module_name: str = "",
    ):
        self.module = module
        self.module_name = module_name  # this file's dotted name in the project ("" : unknown)
        self.source = source
        self.project = project or ProjectIndex()
        c = FactsCollector(module)
        walk(module, [c])
        self.collector = c
        self.scope_of = c.scope_of
        self.module_scope = c.module_scope
        self.classes = c.classes
        self.functions = c.functions
        self.calls = c.calls
        self.attr_loads = c.attr_loads
        self.self_attr_loads = c.self_attr_loads
        self.scope_words = c.scope_words
        self.assigned_in_loop = c.assigned_in_loop
        self._depth: Dict[Tuple[int, int], int] = {}  # expressions being evaluated -> their depth
        self._approx: Dict[Tuple[int, int], Kind] = {}  # cycle heads -> their kind so far
        self._head = _NO_CYCLE  # the lowest depth a cycle went back to while evaluating
        self._provisional: Dict[Tuple[int, int], Tuple[Kind, int]] = {}  # kinds computed from a guess, and its depth
        self._memo: Dict[Tuple[int, int], Kind] = {}
        self.reaching = Reaching(c.compounds, c.scope_of.values())
        self._derived: Dict[Callable, object] = {}  # derived(): the later layers' per-file analyses

    def derived(self, make: Callable[["FileFacts"], _T]) -> _T:
        """The per-file analysis `make(self)` builds (`make`: a class of a later layer, built from these facts),
        made at the first ask and shared by every later one: `flow.file_flow.FileFlow` (the timelines, asked by
        the flow rules, `flow.construction`, `lifecycle` and `run.intent`). What one rule alone asks lives on
        that rule's instance instead (`rules.context.RuleRunner` makes one of each rule per file)."""
        got = self._derived.get(make)
        if got is None:
            got = self._derived[make] = make(self)
        return got  # type: ignore[return-value]

    def code(self, node: ast.AST) -> str:
        """The node's source text."""
        if self.source is None:
            return ast.unparse(node)
        return self.source.segment(node)

    # names
    def lookup(self, name: str, scope: Scope) -> Optional[List[Binding]]:
        s: Optional[Scope] = scope
        while s is not None:
            if name in s.bindings or any(p[0] == name for p in s.params):
                out = list(s.bindings.get(name, []))
                for pname, ann, _ in s.params:
                    if pname == name:
                        out.append(Binding(None, s, kind=self._param_kind(s, pname, ann)))
                return out
            s = s.parent
        return self._star_import(name)

    def _star_import(self, name: str) -> Optional[List[Binding]]:
        """A name bound nowhere in the file, after `from pkg import *` of a library the knowledge
        base knows: `pkg.name` when the base has it (`from transformers import *` ... `AutoModel`)."""
        stars = self.module_scope.stars
        if not stars:
            return None
        from freezelint.static import knowledge

        for base in reversed(stars):  # the last star import wins, as at run time
            if knowledge.resolve(f"{base}.{name}") is not None:
                return [Binding(None, self.module_scope, kind=Kind(REF, f"{base}.{name}"))]
        return None

    def bindings_at(self, name: ast.Name, scope: Scope) -> Optional[List[Binding]]:
        """The bindings that may reach this use of a name: flow-sensitive in the name's own scope."""
        out = self.lookup(name.id, scope)
        if not out or out[0].scope is not scope or (len(out) == 1 and out[0].how != COMPREHENSION and name.id not in scope.dels):
            return out
        got = self.reaching.reaching(out, scope.dels.get(name.id, ()), name, scope.node)
        if not got and scope.parent is not None and all(b.how == COMPREHENSION for b in out):
            return self.lookup(name.id, scope.parent)  # only comprehensions bind it here: the enclosing name
        return got

    def qualified(self, expr: ast.AST, scope: Scope) -> Optional[str]:
        """Resolve `nn.Linear` to `torch.nn.Linear` through this file's imports."""
        k = self.kind_of(expr, scope)
        return k.detail if k.tag == REF else None

    def _annotation_name(self, ann: ast.AST) -> Optional[str]:
        """The qualified name an annotation refers to. Annotations may be read late (strings,
        `from __future__ import annotations`), so every module-level binding of their names counts."""
        attrs = []
        while isinstance(ann, ast.Attribute):
            attrs.append(ann.attr)
            ann = ann.value
        bindings = self.lookup(ann.id, self.module_scope) if isinstance(ann, ast.Name) else None
        k = join(self._binding_kind(b) for b in bindings) if bindings else UNKNOWN
        return ".".join([k.detail] + attrs[::-1]) if k.tag == REF else None

    def _param_kind(self, scope: Scope, name: str, ann) -> Kind:
        narrowed = narrowed_param(self, scope, name)
        if narrowed is not None:
            return narrowed
        if ann is not None:
            k = annotation_kind(ann) or annotation_evidence(
                ann, self._annotation_name, self.is_module_class
            )
            if k is not None:
                return k
        func = scope.node
        if scope.class_name and isinstance(func, FUNCTION_NODES) and scope.params and scope.params[0][0] == name:
            if name == "self" and not any(
                isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod")
                for d in func.decorator_list
            ):
                if self.is_module_class(scope.class_name):
                    return Kind(MODULE, scope.class_name)
                return K_OTHER if not self.is_unknown_class(scope.class_name) else UNKNOWN
            return UNKNOWN
        if isinstance(func, FUNCTION_NODES) and not scope.class_name:
            # this file's calls, unless other files call it too: then every call in the project
            return call_args.param_kind(self, scope, name, self._param_kind_from_calls(scope, name))
        return call_args.param_kind(self, scope, name) if isinstance(func, FUNCTION_NODES) else UNKNOWN

    def _param_kind_from_calls(self, scope: Scope, name: str) -> Kind:
        """One level of interprocedural evidence: what do this file's calls pass in?"""
        func = scope.node
        if len(self.functions.get(func.name, [])) != 1:
            return UNKNOWN
        index = next(i for i, p in enumerate(scope.params) if p[0] == name)
        sites = self.calls.get(func.name, [])
        if not sites:
            return UNKNOWN
        kinds = []
        for call, call_scope in sites:
            if has_star_args(call):
                return UNKNOWN
            arg = keyword(call, name)
            pos = positional(call)
            if arg is None and index < len(pos):
                arg = pos[index]
            if arg is None:
                return UNKNOWN
            kinds.append(self.kind_of(arg, call_scope))
        k = join(kinds)
        return k if k.tag != NEUTRAL_TAG else UNKNOWN

    # classes
    def is_module_class(self, name: str) -> bool:
        """A class (short name) that is an nn.Module: this file's own definition decides, else the project's."""
        infos = self.classes.get(name)
        if infos:
            if len(infos) != 1:
                return False
            return any(
                base_is_module(self.qualified(b, self.module_scope) or dotted_name(b) or "", self.project.module_classes)
                for b in infos[0].bases
            )
        if name in self.project.ambiguous_classes:
            return False
        return name in self.project.module_classes

    def holds_no_parameters(self, kind: Kind) -> bool:
        """A Module known to have no parameters (Dropout, activations, Identity, pooling...):
        `eval()` on it is about its behaviour, never an attempt to freeze it."""
        if not kind.is_module() or not isinstance(kind.detail, str) or "." not in kind.detail:
            return False
        last = kind.detail.rsplit(".", 1)[-1]
        if kind.detail.startswith("torch.nn.") and last in PARAMLESS_TORCH_MODULES:
            return True
        from freezelint.static import knowledge

        info = knowledge.module_class(kind.detail)
        return info is not None and info.has_params is False

    def is_unknown_class(self, name: str) -> bool:
        """A class whose bases we cannot see through (could be a Module)."""
        infos = self.classes.get(name)
        return not infos or any(infos[0].bases)

    def class_keeps_requires_grad_option(self, class_name: Optional[str]) -> bool:
        """The class stores `requires_grad` as an option of its own (reads it back or defines it)."""
        if class_name is None:
            return False
        if class_name not in self.classes:  # defined in another file: the text index is all we have
            return class_name in self.project.option_classes
        if "requires_grad" in self.self_attr_loads.get(class_name, ()):
            return True
        return any("requires_grad" in info.body_names for info in self.classes.get(class_name, []))

    # expressions
    def kind_of(self, expr: ast.AST, scope: Scope, guards: Optional[Dict[str, Kind]] = None) -> Kind:
        if guards and isinstance(expr, ast.Name) and expr.id in guards:
            return guards[expr.id]
        key = (id(expr), id(scope))
        k = self._memo.get(key)
        if k is not None:
            return k
        pending = self._provisional.get(key)
        if pending is not None:
            self._head = min(self._head, pending[1])
            return pending[0]
        depth = self._depth.get(key)
        if depth is not None:  # a cycle: this expression's kind so far (nothing yet: NEUTRAL, ignored by joins)
            self._head = min(self._head, depth)
            return self._approx.get(key, NEUTRAL)
        depth = self._depth[key] = len(self._depth)
        outer, head = self._head, _NO_CYCLE
        try:
            for _ in range(_ROUNDS):  # a small fixpoint, from NEUTRAL up, when the evaluation came back here
                self._head = _NO_CYCLE
                k = self._kind_of(expr, scope, guards)
                head = min(head, self._head)
                if self._head != depth or self._approx.get(key) == k:
                    break
                self._approx[key] = k
                self._provisional.clear()  # they were computed from the previous guess
            else:
                k = UNKNOWN
                self._provisional.clear()
        finally:
            del self._depth[key]
            self._approx.pop(key, None)
        keep = not guards and getattr(expr, "lineno", None) is not None  # a node a rule made up may not outlive this
        if head < depth:  # it depends on an expression still being evaluated
            self._head = min(outer, head)
            if keep:
                self._provisional[key] = (k, head)
            return k
        self._head = outer
        if head == depth:  # a settled cycle: what was computed in its last round is final too
            for other, (v, h) in list(self._provisional.items()):
                if h >= depth:
                    del self._provisional[other]
                    self._memo[other] = v if v.tag != NEUTRAL_TAG else UNKNOWN
        if k.tag == NEUTRAL_TAG:
            k = UNKNOWN  # a cycle with nothing coming in
        if keep:
            self._memo[key] = k
        return k

    def _binding_kind(self, b: Binding) -> Kind:
        if b.kind is not None and b.expr is None:
            k = b.kind
        elif b.expr is None:
            return UNKNOWN
        else:
            k = self.kind_of(b.expr, b.scope)
            if b.iterate:
                k = element_kind(k)
        for i in b.path:
            if k.tag == NEUTRAL_TAG:
                return k
            if k.tag == TUPLE and i < len(k.detail):
                k = k.detail[i]
            else:
                return UNKNOWN
        return k

    def _kind_of(self, expr, scope, guards) -> Kind:
        if isinstance(expr, ast.Name):
            bindings = self.bindings_at(expr, scope)
            if bindings is None:
                return UNKNOWN
            k = join(self._binding_kind(b) for b in bindings)
            k = UNKNOWN if k.tag == NEUTRAL_TAG and not bindings else k
            if k == UNKNOWN:  # an isinstance test around it, or the methods called on it, may still say
                return union_narrowed(self, expr, scope, bindings) or self.duck_name(expr.id, scope) or k
            return k
        if isinstance(expr, ast.Attribute):
            return self._attribute_kind(expr, scope, guards)
        if isinstance(expr, ast.Call):
            return self._call_kind(expr, scope, guards)
        if isinstance(expr, ast.Subscript):
            base = self.kind_of(expr.value, scope, guards)
            if base.tag == NEUTRAL_TAG:
                return base
            sl = expr.slice
            sliced = isinstance(sl, ast.Slice) or (isinstance(sl, ast.Tuple) and any(isinstance(e, ast.Slice) for e in sl.elts))
            if sliced and base.tag in (CONTAINER, LIST, PARAM_CONTAINER):
                return base  # a slice of a Sequential/ModuleList/list is one of those again
            if base.tag == CONTAINER:
                return K_MODULE
            if base.tag == STATE_DICT:
                return Kind(SD_VALUE)
            if base.tag in (PARAM_CONTAINER, TENSOR):
                return K_TENSOR
            if base.tag == LIST:
                return base.detail
            return UNKNOWN
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            if any(isinstance(e, ast.Starred) for e in expr.elts):
                return UNKNOWN
            elems = [self.kind_of(e, scope, guards) for e in expr.elts]
            if isinstance(expr, ast.Tuple):
                return Kind(TUPLE, tuple(elems))
            return Kind(LIST, join(elems) if elems else UNKNOWN)
        if isinstance(expr, (ast.ListComp, ast.GeneratorExp)):
            return Kind(LIST, self.kind_of(expr.elt, scope, guards))
        if isinstance(expr, ast.BinOp):
            left = self.kind_of(expr.left, scope, guards)
            right = self.kind_of(expr.right, scope, guards)
            if TENSOR in (left.tag, right.tag) or SD_VALUE in (left.tag, right.tag):
                return K_TENSOR
            return NEUTRAL if NEUTRAL_TAG in (left.tag, right.tag) else UNKNOWN
        if isinstance(expr, (ast.Constant, ast.JoinedStr, ast.Compare)):
            return K_OTHER
        if isinstance(expr, ast.IfExp):
            return join([self.kind_of(expr.body, scope, guards), self.kind_of(expr.orelse, scope, guards)])
        return UNKNOWN

    def _attribute_kind(self, expr: ast.Attribute, scope: Scope, guards) -> Kind:
        attr = expr.attr
        base = self.kind_of(expr.value, scope, guards)
        if base.tag == NEUTRAL_TAG:
            return base
        if base.tag == REF:
            return Kind(REF, f"{base.detail}.{attr}")
        if not base.is_module():
            if base.tag == TENSOR and attr in ("data", "grad", "T", "mT", "real", "imag"):
                return K_TENSOR
            if isinstance(expr.value, ast.Name) and expr.value.id == "self" and scope.class_name:
                # `self.model` in a trainer or any other class of this file: what its methods store there
                infos = self.classes.get(scope.class_name)
                bindings = infos[0].self_attrs.get(attr) if infos and len(infos) == 1 else None
                if bindings:
                    k = join(self._binding_kind(b) for b in bindings)
                    if k.tag != NEUTRAL_TAG and k != UNKNOWN:
                        return k
            if base.tag == UNKNOWN.tag or base.tag == K_OTHER.tag:
                return self._self_attr_duck(expr, scope) or UNKNOWN
            return UNKNOWN
        cls = base.detail
        if cls is not None:
            infos = self.classes.get(cls)
            if infos and len(infos) == 1:
                bindings = infos[0].self_attrs.get(attr)
                if bindings:
                    k = join(self._binding_kind(b) for b in bindings)
                    if k == UNKNOWN:
                        return self._self_attr_duck(expr, scope) or k
                    if k.tag != NEUTRAL_TAG:
                        return k
                if attr in infos[0].body_names:
                    return UNKNOWN  # a method or property of the class
            elif not infos:  # a project class of another file: the constructor its methods store there
                ctor = self.project.class_table.attr_constructor(cls, attr)
                k = self.constructor_kind(ctor) if ctor else None
                if k is not None and k != UNKNOWN:
                    return k
        if attr in TENSOR_ATTRS:
            return K_TENSOR
        if attr in CONTAINER_ATTRS:
            return Kind(CONTAINER)
        if attr in SUBMODULE_ATTRS:
            return K_MODULE
        return self._self_attr_duck(expr, scope) or UNKNOWN

    def _self_attr_duck(self, expr: ast.Attribute, scope: Scope) -> Optional[Kind]:
        """`self.x` whose bindings say nothing: the methods the class calls on it (`self.x.eval()`,
        `self.x.parameters()`) may still say it is a Module."""
        if not (isinstance(expr.value, ast.Name) and expr.value.id == "self" and scope.class_name):
            return None
        return duck_kind(self.collector.self_attr_methods.get((scope.class_name, expr.attr), frozenset()))

    def duck_name(self, name: str, scope: Scope) -> Optional[Kind]:
        """What the methods called on a name in its scope say it is (None: nothing)."""
        return duck_kind(self.collector.name_methods.get((id(scope.node), name), frozenset()))
