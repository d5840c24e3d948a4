"""What a call evaluates to: constructors, factories, methods of Modules, tensors and state_dicts.

A mixin of `facts.FileFacts` (it asks `self.kind_of` for the callee and the receiver);
kept apart because calls are most of the vocabulary and little of the evaluation.
"""

from __future__ import annotations

import ast
from typing import Optional

from freezelint.static.parse.astutil import positional
from freezelint.static.semantic.evidence import MODULE_ONLY_METHODS, is_optimizer_class, library_class_kind, unwrapped_model
from freezelint.static.semantic.kinds import (
    CLASS, CONTAINER, FUNC, K_MODULE, K_OTHER, K_TENSOR, LIST, MODULE, MODULE_FACTORIES, MODULE_FACTORY_SUFFIXES,
    NEUTRAL_TAG, NON_MODULE_PRETRAINED, NON_TENSOR_TENSOR_METHODS, OPTIMIZER, OPTIMIZER_CLASS_NAMES, PARAM_CONTAINER, REF,
    SD_ITEMS,
    SD_VALUE, SD_VALUES, STATE_DICT, TENSOR, TENSOR_FACTORIES_OUTSIDE_TORCH, TORCH_NON_TENSOR_FUNCS, TUPLE, UNKNOWN,
    Kind, element_kind, module_method_kind,
)


# Methods only nn.Module has that yield its parameters or submodules (`buffers` too, but no rule needs it).
MODULE_ONLY_ITERATORS = MODULE_ONLY_METHODS - {"buffers", "named_buffers"}


class CallKinds:
    """`_call_kind` for `FileFacts`; needs `kind_of`, `lookup`, `is_module_class`, `functions`, `project`, `module_name`."""

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
        if fk.tag == NEUTRAL_TAG and isinstance(func, ast.Name):
            return fk  # a cycle still being settled: nothing known yet
        if isinstance(func, ast.Attribute):
            method = func.attr
            recv = self.kind_of(func.value, scope, guards)
            if recv.tag == NEUTRAL_TAG:
                return recv
            if recv.tag == REF and recv.detail.rsplit(".", 1)[-1][:1].isupper() and method in MODULE_FACTORY_SUFFIXES:
                cls_name = recv.detail.rsplit(".", 1)[-1]
                if not any(s in cls_name for s in NON_MODULE_PRETRAINED):
                    return K_MODULE
                return K_OTHER
            if recv.tag == CLASS and method in MODULE_FACTORY_SUFFIXES and self.is_module_class(recv.detail):
                return Kind(MODULE, recv.detail)
            if recv.is_module():
                return module_method_kind(recv, method, call)
            if recv == UNKNOWN and method in MODULE_ONLY_ITERATORS:
                # only nn.Module has these: what they yield is known whatever the receiver's class
                return module_method_kind(K_MODULE, method, call)
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

    def _ref_call_kind(self, qual: str, call: ast.Call, scope: Scope, guards) -> Kind:
        if qual == "torch.compile" or qual == "copy.deepcopy":
            args = positional(call)
            if args:
                inner = self.kind_of(args[0], scope, guards)
                return inner if (inner.is_module() or inner.tag == TENSOR) else UNKNOWN
            return UNKNOWN
        k = self.constructor_kind(qual)
        return k if k is not None else self._factory_kind(qual)

    def constructor_kind(self, qual: str) -> Optional[Kind]:
        """What calling `qual` builds, from its qualified name alone (`torch.nn.Linear`, `torch.zeros`,
        `transformers.AutoModel.from_pretrained`, a project or knowledge-base class); None when the name does
        not say. Asked for a call of an imported name (`_ref_call_kind`, which then tries the project's
        factories) and for the constructor a class of another file stores in `self.x` (`facts._attribute_kind`)."""
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
        if last[:1].isupper() and is_optimizer_class(qual, last, OPTIMIZER_CLASS_NAMES):
            return Kind(OPTIMIZER)
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
                # AutoModel.from_pretrained(...), ResNetForImageClassification.from_config(...): the class
                # itself where the project defines it, so its submodules can be asked (`model.visual_projection`)
                if owner in self.project.module_classes and owner not in self.project.ambiguous_classes:
                    return Kind(MODULE, owner)
                return K_MODULE
            return UNKNOWN
        if last[:1].isupper() and (last in self.project.module_classes) and last not in self.project.ambiguous_classes:
            return Kind(MODULE, last)
        if last[:1].isupper() and parts[0] not in ("typing", "collections", "dataclasses"):
            # `BertModel(config)`, `ResNet(...)`, `torch.optim.swa_utils.AveragedModel(model)`: the knowledge base
            return library_class_kind(qual)
        return None

    def _factory_kind(self, name: str) -> Kind:
        """A call of a project function that returns an nn.Module (any file, any depth)."""
        if name in self.functions and self.module_name:
            name = f"{self.module_name}.{name}"
        cls = self.project.factory_class(name)
        if cls is None:
            return UNKNOWN
        return Kind(MODULE, cls or None)
