"""Evidence about what a value is, beyond its own bindings: library classes, annotations, duck typing.

`facts.FileFacts` asks these when a name's bindings do not settle its kind. Library
classes come from the knowledge base (loaded on first use only); duck typing counts the
methods called on a name in its scope: `.parameters()` or `.named_modules()` exist on
nn.Module, and a tensor-only method (`.item()`, `.backward()`) on the same name is
conflicting evidence, which leaves it unknown.
"""

from __future__ import annotations

import ast
from typing import AbstractSet, Callable, Optional

from freezelint.static.parse.astutil import dotted_name, unquoted
from freezelint.static.semantic.kinds import CONTAINER, K_MODULE, MODULE, Kind, join

# Called on a name, these say it is an nn.Module (no tensor or optimizer has them).
MODULE_ONLY_METHODS = frozenset(
    {"parameters", "named_parameters", "named_modules", "modules", "children", "named_children", "named_buffers", "buffers"}
)
# Called together, these say so too (each alone also exists on other objects).
MODULE_MODE_METHODS = frozenset({"eval", "train"})
# Called on a name, these say it is a tensor (conflicting evidence against a Module).
TENSOR_ONLY_METHODS = frozenset(
    {"item", "backward", "detach", "numpy", "tolist", "view", "reshape", "unsqueeze", "squeeze", "permute", "size", "dim", "contiguous"}
)
# Recorded by the collector beside the methods: `x.eval()` with no argument, `x.fc = nn.Identity()`.
EVAL_CALL = "eval()"
HOLDS_A_LAYER = "<holds a layer>"
MODULE_EVIDENCE_MARKS = frozenset({EVAL_CALL, HOLDS_A_LAYER})
_UNION_NAMES = ("Union", "Optional")


def duck_kind(methods: AbstractSet[str]) -> Optional[Kind]:
    """A Module when the methods called on a name are Module methods and none is a tensor's.
    `eval()` called with no argument is one (no tensor has it), and so is a layer of it replaced
    by `nn.Identity()` (`MODULE_EVIDENCE_MARKS`)."""
    if not methods or methods & TENSOR_ONLY_METHODS:
        return None
    if methods & MODULE_ONLY_METHODS or MODULE_MODE_METHODS <= methods or methods & MODULE_EVIDENCE_MARKS:
        return K_MODULE
    return None


def is_optimizer_class(qualname: Optional[str], last: str, known_names: AbstractSet[str]) -> bool:
    """Does calling this build an optimizer? The knowledge base decides for the libraries it reads
    (`torch.optim.swa_utils.AveragedModel` is a Module, `StepLR` a scheduler, `bnb.optim.PagedLion8bit`
    an optimizer); a class it does not know counts by its name (`FusedAdam` of apex)."""
    if qualname and "." in qualname:
        from freezelint.static import knowledge

        if knowledge.is_optimizer_class(qualname):
            return True
        if knowledge.resolve(qualname) is not None or qualname.startswith("torch."):
            return False  # a library class the base knows, and not an optimizer
    return last in known_names


def library_class_kind(qualname: Optional[str]) -> Optional[Kind]:
    """`transformers.BertModel` -> Module of that class, from the knowledge base; None when not a Module class."""
    if not qualname or "." not in qualname:
        return None
    from freezelint.static import knowledge

    info = knowledge.module_class(qualname)
    if info is None:
        return None
    return Kind(CONTAINER if info.container else MODULE, info.qualname)


def annotation_evidence(ann: ast.AST, qualify: Callable[[ast.AST], Optional[str]], is_project_module: Callable[[str], bool]) -> Optional[Kind]:
    """What an annotation says: a project or library Module class, also inside Optional[...];
    Union[...] only when every member is a Module (`Union[str, PreTrainedModel]` needs an isinstance)."""
    ann = unquoted(ann)
    if ann is None:
        return None
    if isinstance(ann, ast.Subscript):
        head = (dotted_name(ann.value) or "").rsplit(".", 1)[-1]
        if head not in _UNION_NAMES:
            return None
        members = list(ann.slice.elts) if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        if head == "Optional":
            return annotation_evidence(members[0], qualify, is_project_module) if len(members) == 1 else None
        members = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
        kinds = [annotation_evidence(m, qualify, is_project_module) for m in members]
        if not kinds or any(k is None for k in kinds):
            return None
        k = join(kinds)
        return k if k.is_module() else None
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):  # `BertModel | None`
        parts = [p for p in (ann.left, ann.right) if not (isinstance(p, ast.Constant) and p.value is None)]
        kinds = [annotation_evidence(p, qualify, is_project_module) for p in parts]
        if kinds and all(k is not None and k.is_module() for k in kinds):
            return join(kinds)
        return None
    name = dotted_name(ann)
    if not name:
        return None
    short = name.rsplit(".", 1)[-1]
    if is_project_module(short):
        return Kind(MODULE, short)
    return library_class_kind(qualify(ann))


# Calls that hand back the model a wrapper holds (accelerate, transformers, peft, DeepSpeed engines).
UNWRAP_METHODS = frozenset({"unwrap_model", "get_base_model"})
UNWRAP_FUNCTIONS = frozenset({"unwrap_model", "extract_model_from_parallel"})
# They swap BatchNorm layers inside the model they are given and return that same model
# (torch's `nn.SyncBatchNorm.convert_sync_batchnorm`, apex's `convert_syncbn_model`).
SAME_MODEL_CALLS = frozenset({"convert_sync_batchnorm", "convert_syncbn_model"})


def unwrapped_model(expr: ast.AST) -> Optional[ast.AST]:
    """For `accelerator.unwrap_model(m)`, `unwrap_model(m)`, `m.get_base_model()`,
    `nn.SyncBatchNorm.convert_sync_batchnorm(m)`: the model expression `m`."""
    if not isinstance(expr, ast.Call):
        return None
    func = expr.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in SAME_MODEL_CALLS and expr.args and not isinstance(expr.args[0], ast.Starred):
        return expr.args[0]
    if isinstance(func, ast.Attribute) and func.attr in UNWRAP_METHODS:
        if func.attr == "get_base_model":
            return func.value if not expr.args else None
        return expr.args[0] if expr.args and not isinstance(expr.args[0], ast.Starred) else None
    if isinstance(func, ast.Name) and func.id in UNWRAP_FUNCTIONS and expr.args and not isinstance(expr.args[0], ast.Starred):
        return expr.args[0]
    return None
