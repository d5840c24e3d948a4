"""Project-wide facts gathered from file text before any file is parsed.

Which class names are `nn.Module` subclasses (transitively, across files), and
which of those keep `self.requires_grad` as an option of their own. A regex
over class headers is enough for this and costs a fraction of a parse, so the
index can be built over every file in the run (and rebuilt whenever any file
changes: its digest goes into the cache key).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import AbstractSet, Dict, FrozenSet, Iterable, List, Set, Tuple

_CLASS_RE = re.compile(r"^[ \t]*class[ \t]+([A-Za-z_]\w*)[ \t]*(?:\(([^)]*)\))?[ \t]*:", re.M)
# `self.requires_grad` read (not assigned, not the `requires_grad_` method).
_READS_OPTION_RE = re.compile(r"self\.requires_grad\b(?!_)(?![ \t]*=(?!=))")
_DEF_PARAMS_RE = re.compile(r"\bdef[ \t]+\w+[ \t]*\(([^)]*)\)", re.S)

# Base classes outside the project that are nn.Module subclasses.
KNOWN_MODULE_BASES: FrozenSet[str] = frozenset(
    {
        "Module",
        "Sequential",
        "ModuleList",
        "ModuleDict",
        "LightningModule",
        "PreTrainedModel",
        "ModelMixin",
        "PeftModel",
        "DistributedDataParallel",
        "DataParallel",
        "Linear",
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "Embedding",
        "LayerNorm",
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "MultiheadAttention",
        "TransformerEncoder",
        "TransformerEncoderLayer",
        "TransformerDecoderLayer",
        "GRU",
        "LSTM",
        "RNN",
    }
)
_NOT_MODULE = frozenset({"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"})


@dataclass
class FileSummary:
    """What one file contributes to the project index (cheap to compute and to cache)."""

    classes: List[Tuple[str, Tuple[str, ...]]] = field(default_factory=list)  # (name, base texts)
    option_classes: List[str] = field(default_factory=list)  # classes in a file reading self.requires_grad
    def_params: List[str] = field(default_factory=list)  # parameter names close to requires_grad


def summarize(text: str, is_near_requires_grad=None) -> FileSummary:
    s = FileSummary()
    if "class" in text:
        for m in _CLASS_RE.finditer(text):
            bases = tuple(b.strip() for b in (m.group(2) or "").split(",") if b.strip() and "=" not in b)
            s.classes.append((m.group(1), bases))
    if s.classes and _READS_OPTION_RE.search(text):
        s.option_classes = [name for name, _ in s.classes]
    if is_near_requires_grad is not None and "grad" in text:
        for m in _DEF_PARAMS_RE.finditer(text):
            for raw in m.group(1).split(","):
                name = raw.split(":")[0].split("=")[0].strip().lstrip("*")
                if name and is_near_requires_grad(name):
                    s.def_params.append(name)
    return s


def base_is_module(base: str, module_classes: AbstractSet[str]) -> bool:
    base = base.split("[")[0].strip()
    last = base.rsplit(".", 1)[-1]
    if last in _NOT_MODULE:
        return False
    if re.fullmatch(r"(torch\.)?nn\.[A-Z]\w*", base):
        return True
    return last in KNOWN_MODULE_BASES or last in module_classes


@dataclass
class ProjectIndex:
    module_classes: FrozenSet[str] = frozenset()
    # class names defined both as a Module and as something else: never trusted
    ambiguous_classes: FrozenSet[str] = frozenset()
    option_classes: FrozenSet[str] = frozenset()
    def_params: FrozenSet[str] = frozenset()
    digest: str = ""

    @classmethod
    def build(cls, summaries: Iterable[FileSummary]) -> "ProjectIndex":
        summaries = list(summaries)
        bases_of: Dict[str, List[Tuple[str, ...]]] = {}
        option: Set[str] = set()
        params: Set[str] = set()
        for s in summaries:
            for name, bases in s.classes:
                bases_of.setdefault(name, []).append(bases)
            option.update(s.option_classes)
            params.update(s.def_params)
        module: Set[str] = set()
        changed = True
        while changed:  # fixpoint: subclasses of project Module classes are Modules
            changed = False
            for name, defs in bases_of.items():
                if name not in module and any(
                    any(base_is_module(b, module) for b in bases) for bases in defs
                ):
                    module.add(name)
                    changed = True
        ambiguous = {
            name
            for name, defs in bases_of.items()
            if name in module and not all(any(base_is_module(b, module) for b in bases) for bases in defs)
        }
        h = hashlib.sha256()
        for part in (sorted(module - ambiguous), sorted(ambiguous), sorted(option), sorted(params)):
            h.update(repr(part).encode())
        return cls(
            module_classes=frozenset(module - ambiguous),
            ambiguous_classes=frozenset(ambiguous),
            option_classes=frozenset(option),
            def_params=frozenset(params),
            digest=h.hexdigest(),
        )
