"""What a name is: nn.Module, Parameter/Tensor, state_dict, optimizer, or unknown.

`scopes.FactsCollector` records imports, the bindings of every name per scope,
the `self.x` attributes of each class and the call sites of each local function
in one walk of the file's `ast`. `FileFacts.kind_of(expr, scope)` then evaluates
an expression's kind lazily, flow-insensitively: a name is a Module only when
every binding it has is one. Conflicting or missing evidence gives UNKNOWN, and
rules stay silent on UNKNOWN.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set, Tuple

from freezelint.static.evidence import annotation_evidence, duck_kind, library_class_kind, unwrapped_model
from freezelint.static.astutil import FUNCTION_NODES, SourceText, bool_literal, dotted_name, has_star_args, keyword, positional
from freezelint.static.kinds import (
    CLASS, CONTAINER, CONTAINER_ATTRS, FUNC, K_MODULE, K_OTHER, K_TENSOR, LIST, MODULE, MODULE_FACTORIES,
    MODULE_FACTORY_SUFFIXES, MODULE_ITER, NEUTRAL, NEUTRAL_TAG, NON_MODULE_PRETRAINED, NON_TENSOR_TENSOR_METHODS,
    OPTIMIZER, PARAMLESS_TORCH_MODULES, PARAM_CONTAINER, PARAM_ITER, REF, SD_ITEMS, SD_VALUE, SD_VALUES, SELF_RETURNING_MODULE_METHODS,
    STATE_DICT, SUBMODULE_ATTRS, TENSOR, TENSOR_ATTRS, TENSOR_FACTORIES_OUTSIDE_TORCH, TORCH_NON_TENSOR_FUNCS,
    TUPLE, UNKNOWN, Kind, element_kind, join,
)
from freezelint.static.project import ProjectIndex, base_is_module
from freezelint.static.scopes import Binding, ClassInfo, FactsCollector, Scope, annotation_kind
from freezelint.static.walk import walk

__all__ = ["Binding", "ClassInfo", "FileFacts", "Kind", "Scope", "dotted_name", "K_MODULE", "K_TENSOR"]


class FileFacts:
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
        self._evaluating: Set[Tuple[int, int]] = set()
        self._memo: Dict[Tuple[int, int], Kind] = {}

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
        return None

    def qualified(self, expr: ast.AST, scope: Scope) -> Optional[str]:
        """Resolve `nn.Linear` to `torch.nn.Linear` through this file's imports."""
        k = self.kind_of(expr, scope)
        return k.detail if k.tag == REF else None

    def _param_kind(self, scope: Scope, name: str, ann) -> Kind:
        if ann is not None:
            k = annotation_kind(ann) or annotation_evidence(
                ann, lambda a: self.qualified(a, self.module_scope), self.is_module_class
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
            return self._param_kind_from_calls(scope, name)
        return UNKNOWN

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
        if key in self._memo:
            return self._memo[key]
        if key in self._evaluating:
            return NEUTRAL
        self._evaluating.add(key)
        try:
            k = self._kind_of(expr, scope, guards)
        finally:
            self._evaluating.discard(key)
        if not guards:
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
            bindings = self.lookup(expr.id, scope)
            if bindings is None:
                return UNKNOWN
            k = join(self._binding_kind(b) for b in bindings)
            k = UNKNOWN if k.tag == NEUTRAL_TAG and not bindings else k
            if k == UNKNOWN:  # the methods called on it may still say what it is
                return duck_kind(self.collector.name_methods.get((id(scope.node), expr.id), frozenset())) or k
            return k
        if isinstance(expr, ast.Attribute):
            return self._attribute_kind(expr, scope, guards)
        if isinstance(expr, ast.Call):
            return self._call_kind(expr, scope, guards)
        if isinstance(expr, ast.Subscript):
            base = self.kind_of(expr.value, scope, guards)
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
            return UNKNOWN
        if isinstance(expr, (ast.Constant, ast.JoinedStr, ast.Compare)):
            return K_OTHER
        if isinstance(expr, ast.IfExp):
            return join([self.kind_of(expr.body, scope, guards), self.kind_of(expr.orelse, scope, guards)])
        return UNKNOWN

    def _attribute_kind(self, expr: ast.Attribute, scope: Scope, guards) -> Kind:
        attr = expr.attr
        base = self.kind_of(expr.value, scope, guards)
        if base.tag == REF:
            return Kind(REF, f"{base.detail}.{attr}")
        if not base.is_module():
            if base.tag == TENSOR and attr in ("data", "grad", "T", "mT", "real", "imag"):
                return K_TENSOR
            return UNKNOWN
        cls = base.detail
        if cls is not None:
            infos = self.classes.get(cls)
            if infos and len(infos) == 1:
                bindings = infos[0].self_attrs.get(attr)
                if bindings:
                    k = join(self._binding_kind(b) for b in bindings)
                    if k.tag != NEUTRAL_TAG:
                        return k
                if attr in infos[0].body_names:
                    return UNKNOWN  # a method or property of the class
        if attr in TENSOR_ATTRS:
            return K_TENSOR
        if attr in CONTAINER_ATTRS:
            return Kind(CONTAINER)
        if attr in SUBMODULE_ATTRS:
            return K_MODULE
        return UNKNOWN

    def _call_kind(self, call: ast.Call, scope: Scope, guards) -> Kind:
        inner = unwrapped_model(call)
        if inner is not None:
            k = self.kind_of(inner, scope, guards)
            if k.is_module():
                return k
        func = call.func
        fk = self.kind_of(func, scope, guards)
        if fk.tag == REF:
            return self._ref_call_kind(fk.detail, call, scope, guards)
        if fk.tag == CLASS:
            return Kind(MODULE, fk.detail) if self.is_module_class(fk.detail) else UNKNOWN
        if fk.tag == FUNC:
            return self._factory_kind(fk.detail)
        if fk.is_module():
            return K_TENSOR  # calling a module: its forward output
        if isinstance(func, ast.Attribute):
            method = func.attr
            recv = self.kind_of(func.value, scope, guards)
            if recv.tag == REF and recv.detail.rsplit(".", 1)[-1][:1].isupper() and method in MODULE_FACTORY_SUFFIXES:
                cls_name = recv.detail.rsplit(".", 1)[-1]
                if not any(s in cls_name for s in NON_MODULE_PRETRAINED):
                    return K_MODULE
                return K_OTHER
            if recv.tag == CLASS and method in MODULE_FACTORY_SUFFIXES and self.is_module_class(recv.detail):
                return Kind(MODULE, recv.detail)
            if recv.is_module():
                return self._module_method_kind(recv, method, call)
            if recv.tag in (TENSOR, SD_VALUE):
                return UNKNOWN if method in NON_TENSOR_TENSOR_METHODS else K_TENSOR
            if recv.tag == STATE_DICT:
                return {
                    "items": Kind(SD_ITEMS),
                    "values": Kind(SD_VALUES),
                    "keys": Kind(LIST, K_OTHER),
                    "get": Kind(SD_VALUE),
                    "pop": Kind(SD_VALUE),
                    "copy": Kind(STATE_DICT),
                }.get(method, UNKNOWN)
        args = positional(call)
        if isinstance(func, ast.Name) and args:
            name = func.id
            if name in ("list", "tuple", "reversed", "sorted", "iter") and self.lookup(name, scope) is None:
                inner = self.kind_of(args[0], scope, guards)
                return Kind(LIST, element_kind(inner)) if inner.tag != STATE_DICT else Kind(LIST, K_OTHER)
            if name == "filter" and len(args) == 2 and self.lookup("filter", scope) is None:
                inner = self.kind_of(args[1], scope, guards)
                return Kind(LIST, element_kind(inner))
            if name == "enumerate" and self.lookup("enumerate", scope) is None:
                inner = self.kind_of(args[0], scope, guards)
                return Kind(LIST, Kind(TUPLE, (K_OTHER, element_kind(inner))))
            if name == "zip" and self.lookup("zip", scope) is None:
                elems = tuple(element_kind(self.kind_of(a, scope, guards)) for a in args)
                return Kind(LIST, Kind(TUPLE, elems))
            if name == "getattr" and len(args) >= 2:
                return UNKNOWN
        return UNKNOWN

    def _module_method_kind(self, recv: Kind, method: str, call: ast.Call) -> Kind:
        if method in SELF_RETURNING_MODULE_METHODS:
            return recv if method != "zero_grad" else K_OTHER
        if method in ("parameters", "buffers"):
            return Kind(PARAM_ITER)
        if method in ("modules", "children"):
            return Kind(MODULE_ITER)
        if method in ("named_parameters", "named_buffers"):
            return Kind(LIST, Kind(TUPLE, (K_OTHER, K_TENSOR)))
        if method in ("named_modules", "named_children"):
            return Kind(LIST, Kind(TUPLE, (K_OTHER, K_MODULE)))
        if method == "state_dict":
            kv = keyword(call, "keep_vars")
            keep_vars = kv is not None and bool_literal(kv) is not False
            return UNKNOWN if keep_vars else Kind(STATE_DICT)
        if method == "get_submodule":
            return K_MODULE
        if method in ("get_parameter", "get_buffer"):
            return K_TENSOR
        if method == "forward":
            return K_TENSOR
        return UNKNOWN

    def _ref_call_kind(self, qual: str, call: ast.Call, scope: Scope, guards) -> Kind:
        parts = qual.split(".")
        last = parts[-1]
        if qual in TENSOR_FACTORIES_OUTSIDE_TORCH or (parts[:2] == ["torch", "nn"] and last in ("Parameter", "Buffer")):
            return K_TENSOR
        if parts[:2] == ["torch", "nn"] and last[:1].isupper() and "utils" not in parts and "init" not in parts:
            if last in ("Sequential", "ModuleList", "ModuleDict"):
                return Kind(CONTAINER)
            if last in ("ParameterList", "ParameterDict"):
                return Kind(PARAM_CONTAINER)
            return Kind(MODULE, qual)  # the library class, so its own facts can be asked (holds_no_parameters)
        if parts[:3] == ["torch", "nn", "functional"] or parts[:3] == ["torch", "nn", "init"]:
            return K_TENSOR
        if parts[:2] == ["torch", "optim"] and last[:1].isupper():
            return Kind(OPTIMIZER)
        if qual == "torch.compile" or qual == "copy.deepcopy":
            args = positional(call)
            if args:
                inner = self.kind_of(args[0], scope, guards)
                return inner if (inner.is_module() or inner.tag == TENSOR) else UNKNOWN
            return UNKNOWN
        if len(parts) == 2 and parts[0] == "torch" and last[:1].islower() and last not in TORCH_NON_TENSOR_FUNCS:
            return K_TENSOR
        if len(parts) == 2 and parts[0] == "torch" and last == "Tensor":
            return K_TENSOR
        if qual in MODULE_FACTORIES:
            return K_MODULE
        if parts[0] == "torchvision" and "models" in parts and last[:1].islower() and last not in ("get_weight", "list_models", "get_model_weights"):
            return K_MODULE
        if last in MODULE_FACTORY_SUFFIXES and len(parts) >= 2:
            owner = parts[-2]
            if owner[:1].isupper() and not any(s in owner for s in NON_MODULE_PRETRAINED):
                return K_MODULE  # AutoModel.from_pretrained(...), ResNetForImageClassification.from_config(...)
            return UNKNOWN
        if last[:1].isupper() and (last in self.project.module_classes) and last not in self.project.ambiguous_classes:
            return Kind(MODULE, last)
        if last[:1].isupper() and parts[0] not in ("torch", "typing", "collections", "dataclasses"):
            k = library_class_kind(qual)  # `BertModel(config)`, `ResNet(...)`: the knowledge base
            if k is not None:
                return k
        return self._factory_kind(qual)

    def _factory_kind(self, name: str) -> Kind:
        """A call of a project function that returns an nn.Module (any file, any depth)."""
        if name in self.functions and self.module_name:
            name = f"{self.module_name}.{name}"
        cls = self.project.factory_class(name)
        if cls is None:
            return UNKNOWN
        return Kind(MODULE, cls or None)
