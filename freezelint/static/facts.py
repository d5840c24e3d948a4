"""What a name is: nn.Module, Parameter/Tensor, state_dict, optimizer, or unknown.

One light pass per file (`FactsCollector`) records imports, the bindings of
every name per scope, the `self.x` attributes of each class and the call
sites of each local function. `FileFacts.kind_of(expr, scope)` then evaluates
an expression's kind lazily, flow-insensitively: a name is a Module only when
every binding it has is one. Conflicting or missing evidence gives UNKNOWN,
and rules stay silent on UNKNOWN. This replaces libcst's Scope and
QualifiedName providers, which cost several parses per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from freezelint.static.project import ProjectIndex, base_is_module
from freezelint.static.walk import walk

# --- kinds -------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    tag: str
    detail: object = None  # MODULE: project class name; REF: qualified name; TUPLE/NAMED/LIST: element kinds

    def is_module(self) -> bool:
        return self.tag in (MODULE, CONTAINER)


MODULE = "module"  # an nn.Module instance
CONTAINER = "container"  # an nn.Module whose iteration/indexing yields Modules (Sequential, ModuleList)
TENSOR = "tensor"  # a Tensor or Parameter
PARAM_CONTAINER = "param_container"  # ParameterList / ParameterDict
PARAM_ITER = "param_iter"  # iterable of Parameters/Tensors
MODULE_ITER = "module_iter"  # iterable of Modules
STATE_DICT = "state_dict"  # detached copies of parameters (no keep_vars)
SD_VALUE = "sd_value"  # a tensor taken out of a state_dict: a detached copy
SD_ITEMS = "sd_items"
SD_VALUES = "sd_values"
OPTIMIZER = "optimizer"
TUPLE = "tuple"  # detail: tuple of Kind
LIST = "list"  # iterable whose elements have kind `detail`
REF = "ref"  # an imported/qualified name, detail: "torch.nn.Linear"
CLASS = "class"  # a class defined in this file, detail: name
FUNC = "func"  # a function defined in this file, detail: name
OTHER = "other"  # str, int, bool... (known not to be a Module or tensor)
UNKNOWN_TAG = "unknown"
NEUTRAL_TAG = "neutral"  # a self-reference while evaluating a binding: ignored in joins

UNKNOWN = Kind(UNKNOWN_TAG)
NEUTRAL = Kind(NEUTRAL_TAG)
K_MODULE = Kind(MODULE)
K_TENSOR = Kind(TENSOR)
K_OTHER = Kind(OTHER)


def join(kinds) -> Kind:
    kinds = [k for k in kinds if k.tag != NEUTRAL_TAG]
    if not kinds:
        return NEUTRAL
    first = kinds[0]
    if all(k == first for k in kinds):
        return first
    if all(k.is_module() for k in kinds):
        details = {k.detail for k in kinds}
        return Kind(MODULE, details.pop() if len(details) == 1 else None)
    if all(k.tag == TENSOR for k in kinds):
        return K_TENSOR
    return UNKNOWN


# --- vocabulary ----------------------------------------------------------------

# Attributes that, on a Module, are parameters or buffers rather than submodules.
TENSOR_ATTRS = frozenset(
    {
        "weight",
        "bias",
        "in_proj_weight",
        "in_proj_bias",
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "running_mean",
        "running_var",
        "num_batches_tracked",
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "pos_embed",
        "cls_token",
        "dist_token",
        "mask_token",
        "position_ids",
        "logit_scale",
        "gamma",
        "beta",
        "scale",
        "data",
        "grad",
    }
)
# Attributes of a pretrained model that are, by overwhelming convention, submodules.
SUBMODULE_ATTRS = frozenset(
    {
        "backbone",
        "encoder",
        "decoder",
        "features",
        "classifier",
        "fc",
        "head",
        "heads",
        "stem",
        "neck",
        "conv1",
        "bn1",
        "embeddings",
        "embed_tokens",
        "wte",
        "wpe",
        "bert",
        "roberta",
        "distilbert",
        "deberta",
        "vit",
        "transformer",
        "base_model",
        "pooler",
        "lm_head",
        "vision_model",
        "text_model",
        "visual",
        "model",
        "module",
        "_orig_mod",
        "avgpool",
        "patch_embed",
        "norm",
        "pre_logits",
        "projector",
        "proj",
        "vision_tower",
        "language_model",
        "unet",
        "vae",
        "text_encoder",
    }
)
# Attributes that are, by convention, Sequential/ModuleList containers of submodules.
CONTAINER_ATTRS = frozenset({"layer1", "layer2", "layer3", "layer4", "layers", "blocks", "layer", "h", "stages"})

# Module methods that return the module itself.
SELF_RETURNING_MODULE_METHODS = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16", "requires_grad_", "apply", "type", "to_empty", "share_memory", "xpu", "mps", "zero_grad"}
)
# Tensor methods that return something other than a tensor.
NON_TENSOR_TENSOR_METHODS = frozenset(
    {"item", "tolist", "size", "dim", "numel", "numpy", "data_ptr", "element_size", "stride", "storage", "untyped_storage", "backward", "register_hook", "type", "get_device", "is_contiguous", "is_floating_point", "nelement", "ndimension", "__len__", "keys", "items", "values"}
)
# torch.<lower> functions that do not return a tensor.
TORCH_NON_TENSOR_FUNCS = frozenset(
    {"no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "device", "dtype", "load", "save", "manual_seed", "seed", "compile", "get_default_dtype", "set_default_dtype", "is_tensor", "numel", "typename", "use_deterministic_algorithms", "set_num_threads", "get_num_threads", "set_printoptions", "is_inference_mode_enabled", "autocast", "Generator", "chunk", "split", "unbind", "broadcast_tensors", "meshgrid", "sort", "max", "min", "topk", "svd", "qr", "eig", "lu", "cummax", "cummin", "mode", "median", "kthvalue", "std_mean", "var_mean", "unique", "where", "nonzero", "tensor_split", "hsplit", "vsplit", "dsplit", "aminmax", "frexp", "histogram", "slogdet", "lobpcg", "pca_lowrank", "svd_lowrank", "equal", "allclose", "is_nonzero", "is_storage", "is_complex", "is_floating_point", "result_type", "promote_types", "can_cast", "from_numpy"}
) - {"from_numpy"}
TENSOR_FACTORIES_OUTSIDE_TORCH = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer"})
MODULE_FACTORY_SUFFIXES = ("from_pretrained", "from_config")
NON_MODULE_PRETRAINED = ("Tokenizer", "Processor", "Config", "FeatureExtractor", "Scheduler", "Pipeline", "Tokeniser")
MODULE_FACTORIES = frozenset({"timm.create_model", "peft.get_peft_model", "torch.hub.load", "open_clip.create_model", "open_clip.create_model_and_transforms"})


def dotted_name(node: cst.CSTNode) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


# --- scopes and bindings -----------------------------------------------------


@dataclass
class Binding:
    expr: Optional[cst.CSTNode]  # the value expression (None: see `kind`)
    scope: "Scope"
    iterate: bool = False  # the name is bound to an element of expr (for-loop, comprehension)
    path: Tuple[int, ...] = ()  # index path when unpacked from a tuple target
    kind: Optional[Kind] = None  # a precomputed kind (imports, defs, annotations)


@dataclass
class Scope:
    node: cst.CSTNode  # Module, FunctionDef or Lambda
    parent: Optional["Scope"]
    class_name: Optional[str] = None  # the class a method belongs to
    bindings: Dict[str, List[Binding]] = field(default_factory=dict)
    params: List[Tuple[str, Optional[cst.Annotation], cst.Param]] = field(default_factory=list)
    func_name: Optional[str] = None

    def bind(self, name: str, binding: Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


@dataclass
class ClassInfo:
    name: str
    node: cst.ClassDef
    bases: List[cst.CSTNode]
    self_attrs: Dict[str, List[Binding]] = field(default_factory=dict)
    body_names: Set[str] = field(default_factory=set)  # methods, properties, class attributes


class FactsCollector(cst.CSTVisitor):
    """One pass that records scopes, bindings, classes, imports and call sites."""

    def __init__(self, module: cst.Module):
        self.module_scope = Scope(module, None)
        self.scope_of: Dict[int, Scope] = {id(module): self.module_scope}
        self.scopes: List[Scope] = [self.module_scope]
        self.classes: Dict[str, List[ClassInfo]] = {}
        self.class_stack: List[ClassInfo] = []
        self.functions: Dict[str, List[cst.FunctionDef]] = {}
        self.calls: Dict[str, List[Tuple[cst.Call, Scope]]] = {}
        self.attr_loads: Set[str] = set()  # attribute names read anywhere in the file
        self.self_attr_loads: Dict[str, Set[str]] = {}  # class -> self.<attr> read in it
        # id(scope node) -> attribute names and called names used directly in that scope (flow's cheap gate)
        self.scope_words: Dict[int, Set[str]] = {}
        self._stores: Set[int] = set()
        self._loops: List[cst.For] = []
        self.assigned_in_loop: Dict[int, Set[str]] = {}  # id(For) -> names rebound inside its body

    # scope bookkeeping
    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    def _bind_target(self, target: cst.CSTNode, expr, iterate: bool, path=(), kind=None) -> None:
        if isinstance(target, cst.Name):
            self.scope.bind(target.value, Binding(expr, self.scope, iterate, path, kind))
            for loop in self._loops:
                if expr is not loop.iter:
                    self.assigned_in_loop.setdefault(id(loop), set()).add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for i, el in enumerate(target.elements):
                if isinstance(el, cst.StarredElement):
                    self._bind_target(el.value, None, False, kind=UNKNOWN)
                else:
                    self._bind_target(el.value, expr, iterate, path + (i,), kind)
        elif isinstance(target, cst.Attribute):
            self._stores.add(id(target))
            if (
                isinstance(target.value, cst.Name)
                and target.value.value == "self"
                and self.class_stack
                and self.scope.class_name == self.class_stack[-1].name
            ):
                info = self.class_stack[-1]
                info.self_attrs.setdefault(target.attr.value, []).append(
                    Binding(expr, self.scope, iterate, path, kind)
                )
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None, False, kind=UNKNOWN)

    # imports
    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.scope.bind(alias.asname.name.value, Binding(None, self.scope, kind=Kind(REF, full)))
            else:
                top = full.split(".")[0]
                self.scope.bind(top, Binding(None, self.scope, kind=Kind(REF, top)))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            base = None
        else:
            base = dotted_name(node.module)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None:
                continue
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            qual = f"{base}.{name}" if base else name  # relative import: the bare name
            self.scope.bind(local, Binding(None, self.scope, kind=Kind(REF, qual)))

    # definitions
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        info = ClassInfo(node.name.value, node, [a.value for a in node.bases])
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef):
                info.body_names.add(stmt.name.value)
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign):
                        for t in small.targets:
                            if isinstance(t.target, cst.Name):
                                info.body_names.add(t.target.value)
                    elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        info.body_names.add(small.target.value)
        self.classes.setdefault(info.name, []).append(info)
        self.scope.bind(info.name, Binding(None, self.scope, kind=Kind(CLASS, info.name)))
        self.class_stack.append(info)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.class_stack.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.setdefault(node.name.value, []).append(node)
        self.scope.bind(node.name.value, Binding(None, self.scope, kind=Kind(FUNC, node.name.value)))
        in_class = self.class_stack and any(s is node for s in self.class_stack[-1].node.body.body)
        new = Scope(node, self.scope, self.class_stack[-1].name if in_class else None, func_name=node.name.value)
        params = list(node.params.posonly_params) + list(node.params.params) + list(node.params.kwonly_params)
        for p in params:
            new.params.append((p.name.value, p.annotation, p))
        for p in (node.params.star_arg, node.params.star_kwarg):
            if isinstance(p, cst.Param):
                new.bind(p.name.value, Binding(None, new, kind=UNKNOWN))
        self.scope_of[id(node)] = new
        self.scopes.append(new)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        new = Scope(node, self.scope)
        for p in node.params.params:
            new.params.append((p.name.value, None, p))
        self.scope_of[id(node)] = new
        self.scopes.append(new)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.scopes.pop()

    # bindings
    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._bind_target(t.target, node.value, False)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value, False)
        else:
            ann = annotation_kind(node.annotation.annotation)
            if ann is not None:
                self._bind_target(node.target, None, False, kind=ann)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Attribute):
            self._stores.add(id(node.target))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node.value, False)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, node.iter, True)
        self._loops.append(node)

    def leave_For(self, original_node: cst.For) -> None:
        self._loops.pop()

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target, node.iter, True)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, None, False, kind=UNKNOWN)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, None, False, kind=K_OTHER)

    def visit_Global(self, node: cst.Global) -> None:
        for n in node.names:  # too dynamic to reason about
            self.scope.bind(n.name.value, Binding(None, self.scope, kind=UNKNOWN))

    visit_Nonlocal = visit_Global

    # uses
    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name):
            self.calls.setdefault(node.func.value, []).append((node, self.scope))
            self.scope_words.setdefault(id(self.scope.node), set()).add(node.func.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.scope_words.setdefault(id(self.scope.node), set()).add(node.attr.value)
        if id(node) in self._stores:
            return
        self.attr_loads.add(node.attr.value)
        if isinstance(node.value, cst.Name) and node.value.value == "self" and self.class_stack:
            self.self_attr_loads.setdefault(self.class_stack[-1].name, set()).add(node.attr.value)


def annotation_kind(ann: cst.CSTNode) -> Optional[Kind]:
    """nn.Module / torch.Tensor / nn.Parameter annotations, also inside Optional[...]."""
    if isinstance(ann, cst.Subscript):
        name = dotted_name(ann.value)
        if name and name.rsplit(".", 1)[-1] == "Optional" and len(ann.slice) == 1:
            inner = ann.slice[0].slice
            if isinstance(inner, cst.Index):
                return annotation_kind(inner.value)
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


# --- evaluation --------------------------------------------------------------


class FileFacts:
    """Answers "what is this expression?" for the rules and the flow analysis."""

    def __init__(self, module: cst.Module, project: Optional[ProjectIndex] = None):
        self.module = module
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
        self._evaluating: Set[int] = set()
        self._memo: Dict[Tuple[int, int], Kind] = {}

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

    def qualified(self, expr: cst.CSTNode, scope: Scope) -> Optional[str]:
        """Resolve `nn.Linear` to `torch.nn.Linear` through this file's imports."""
        k = self.kind_of(expr, scope)
        return k.detail if k.tag == REF else None

    def _param_kind(self, scope: Scope, name: str, ann) -> Kind:
        if ann is not None:
            k = annotation_kind(ann.annotation)
            if k is not None:
                return k
            cls = (dotted_name(ann.annotation) or "").rsplit(".", 1)[-1]
            if cls and self.is_module_class(cls):
                return Kind(MODULE, cls)
        func = scope.node
        if scope.class_name and isinstance(func, cst.FunctionDef) and scope.params and scope.params[0][0] == name:
            if name == "self" and not any(
                isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
                for d in func.decorators
            ):
                if self.is_module_class(scope.class_name):
                    return Kind(MODULE, scope.class_name)
                return K_OTHER if not self.is_unknown_class(scope.class_name) else UNKNOWN
            return UNKNOWN
        if isinstance(func, cst.FunctionDef) and not scope.class_name:
            return self._param_kind_from_calls(scope, name)
        return UNKNOWN

    def _param_kind_from_calls(self, scope: Scope, name: str) -> Kind:
        """One level of interprocedural evidence: what do this file's calls pass in?"""
        func = scope.node
        if len(self.functions.get(func.name.value, [])) != 1:
            return UNKNOWN
        index = next(i for i, p in enumerate(scope.params) if p[0] == name)
        sites = self.calls.get(func.name.value, [])
        if not sites:
            return UNKNOWN
        kinds = []
        for call, call_scope in sites:
            arg = None
            positional = [a for a in call.args if a.keyword is None and not a.star]
            if any(a.star for a in call.args):
                return UNKNOWN
            for a in call.args:
                if a.keyword is not None and a.keyword.value == name:
                    arg = a.value
            if arg is None and index < len(positional):
                arg = positional[index].value
            if arg is None:
                return UNKNOWN
            kinds.append(self.kind_of(arg, call_scope))
        k = join(kinds)
        return k if k.tag != NEUTRAL_TAG else UNKNOWN

    # classes
    def is_module_class(self, name: str) -> bool:
        if name in self.project.ambiguous_classes:
            return False
        if name in self.project.module_classes:
            return True
        infos = self.classes.get(name)
        if not infos or len(infos) != 1:
            return False
        return any(
            base_is_module(self.qualified(b, self.module_scope) or dotted_name(b) or "", self.project.module_classes)
            for b in infos[0].bases
        )

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
    def kind_of(self, expr: cst.CSTNode, scope: Scope, guards: Optional[Dict[str, Kind]] = None) -> Kind:
        if guards and isinstance(expr, cst.Name) and expr.value in guards:
            return guards[expr.value]
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
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None"):
                return K_OTHER
            bindings = self.lookup(expr.value, scope)
            if bindings is None:
                return UNKNOWN
            k = join(self._binding_kind(b) for b in bindings)
            return UNKNOWN if k.tag == NEUTRAL_TAG and not bindings else k
        if isinstance(expr, cst.Attribute):
            return self._attribute_kind(expr, scope, guards)
        if isinstance(expr, cst.Call):
            return self._call_kind(expr, scope, guards)
        if isinstance(expr, cst.Subscript):
            base = self.kind_of(expr.value, scope, guards)
            sliced = any(isinstance(el.slice, cst.Slice) for el in expr.slice)
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
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            elems = [
                self.kind_of(e.value, scope, guards)
                for e in expr.elements
                if not isinstance(e, cst.StarredElement)
            ]
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return UNKNOWN
            if isinstance(expr, cst.Tuple):
                return Kind(TUPLE, tuple(elems))
            return Kind(LIST, join(elems) if elems else UNKNOWN)
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return Kind(LIST, self.kind_of(expr.elt, scope, guards))
        if isinstance(expr, cst.BinaryOperation):
            left = self.kind_of(expr.left, scope, guards)
            right = self.kind_of(expr.right, scope, guards)
            if TENSOR in (left.tag, right.tag) or SD_VALUE in (left.tag, right.tag):
                return K_TENSOR
            return UNKNOWN
        if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Integer, cst.Float, cst.Comparison)):
            return K_OTHER
        if isinstance(expr, cst.IfExp):
            return join([self.kind_of(expr.body, scope, guards), self.kind_of(expr.orelse, scope, guards)])
        return UNKNOWN

    def _attribute_kind(self, expr: cst.Attribute, scope: Scope, guards) -> Kind:
        attr = expr.attr.value
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

    def _call_kind(self, call: cst.Call, scope: Scope, guards) -> Kind:
        func = call.func
        fk = self.kind_of(func, scope, guards)
        if fk.tag == REF:
            return self._ref_call_kind(fk.detail, call, scope, guards)
        if fk.tag == CLASS:
            return Kind(MODULE, fk.detail) if self.is_module_class(fk.detail) else UNKNOWN
        if fk.is_module():
            return K_TENSOR  # calling a module: its forward output
        if isinstance(func, cst.Attribute):
            method = func.attr.value
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
        if isinstance(func, cst.Name) and call.args:
            if func.value in ("list", "tuple", "reversed", "sorted", "iter") and self.lookup(func.value, scope) is None:
                inner = self.kind_of(call.args[0].value, scope, guards)
                return Kind(LIST, element_kind(inner)) if inner.tag != STATE_DICT else Kind(LIST, K_OTHER)
            if func.value == "filter" and len(call.args) == 2 and self.lookup("filter", scope) is None:
                inner = self.kind_of(call.args[1].value, scope, guards)
                return Kind(LIST, element_kind(inner))
            if func.value == "enumerate" and self.lookup("enumerate", scope) is None:
                inner = self.kind_of(call.args[0].value, scope, guards)
                return Kind(LIST, Kind(TUPLE, (K_OTHER, element_kind(inner))))
            if func.value == "zip" and self.lookup("zip", scope) is None:
                elems = tuple(element_kind(self.kind_of(a.value, scope, guards)) for a in call.args)
                return Kind(LIST, Kind(TUPLE, elems))
            if func.value == "getattr" and len(call.args) >= 2:
                return UNKNOWN
        return UNKNOWN

    def _module_method_kind(self, recv: Kind, method: str, call: cst.Call) -> Kind:
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
            keep_vars = any(
                a.keyword is not None and a.keyword.value == "keep_vars" and not (isinstance(a.value, cst.Name) and a.value.value == "False")
                for a in call.args
            )
            return UNKNOWN if keep_vars else Kind(STATE_DICT)
        if method == "get_submodule":
            return K_MODULE
        if method in ("get_parameter", "get_buffer"):
            return K_TENSOR
        if method == "forward":
            return K_TENSOR
        return UNKNOWN

    def _ref_call_kind(self, qual: str, call: cst.Call, scope: Scope, guards) -> Kind:
        parts = qual.split(".")
        last = parts[-1]
        if qual in TENSOR_FACTORIES_OUTSIDE_TORCH or (parts[:2] == ["torch", "nn"] and last in ("Parameter", "Buffer")):
            return K_TENSOR
        if parts[:2] == ["torch", "nn"] and last[:1].isupper() and "utils" not in parts and "init" not in parts:
            if last in ("Sequential", "ModuleList", "ModuleDict"):
                return Kind(CONTAINER)
            if last in ("ParameterList", "ParameterDict"):
                return Kind(PARAM_CONTAINER)
            return K_MODULE
        if parts[:3] == ["torch", "nn", "functional"] or parts[:3] == ["torch", "nn", "init"]:
            return K_TENSOR
        if parts[:2] == ["torch", "optim"] and last[:1].isupper():
            return Kind(OPTIMIZER)
        if qual == "torch.compile" or qual == "copy.deepcopy":
            if call.args:
                inner = self.kind_of(call.args[0].value, scope, guards)
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
        return UNKNOWN


def element_kind(k: Kind) -> Kind:
    """The kind of the items you get by iterating something of kind k."""
    if k.tag in (PARAM_ITER, PARAM_CONTAINER):
        return K_TENSOR
    if k.tag in (MODULE_ITER, CONTAINER):
        return K_MODULE
    if k.tag == LIST:
        return k.detail
    if k.tag == SD_ITEMS:
        return Kind(TUPLE, (K_OTHER, Kind(SD_VALUE)))
    if k.tag == SD_VALUES:
        return Kind(SD_VALUE)
    if k.tag == STATE_DICT:
        return K_OTHER
    if k.tag == NEUTRAL_TAG:
        return NEUTRAL
    if k.tag == TUPLE:
        return join(k.detail)
    return UNKNOWN
