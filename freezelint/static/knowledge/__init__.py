"""The library knowledge base: what torch, torchvision, timm, transformers, diffusers, peft,
lightning, accelerate, deepspeed, sentence-transformers, open_clip and the OpenMMLab
registries define, as data (libraries.json), read from their sources by
scripts/gen_knowledge.py (never by importing them). Layout: README.md next to this file.

Every question takes a dotted name as the user's code spells it (`torch.nn.Linear`,
`transformers.BertModel.from_pretrained`) and resolves it through the libraries'
re-exports first. Nothing is read until the first question; importing this module
imports neither torch nor libcst nor the generator.
"""

from __future__ import annotations

import json
import os
from typing import Dict, NamedTuple, Optional, Tuple

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libraries.json")
_DATA: Optional[dict] = None
MODULE = "torch.nn.modules.module.Module"
OPTIMIZER = "torch.optim.optimizer.Optimizer"
PRETRAINED_METHODS = ("from_pretrained", "from_config", "from_single_file")


class ModuleInfo(NamedTuple):
    """An nn.Module subclass. Facts are True/False, or None when the sources do not settle them;
    they describe an instance built with the class's defaults."""

    qualname: str
    bases: Tuple[str, ...]
    has_params: Optional[bool]
    has_batchnorm: Optional[bool]  # a live BatchNorm (running stats) itself or inside
    container: bool  # Sequential / ModuleList / ModuleDict / ParameterList / ParameterDict or a subclass
    overrides_train: bool  # defines train() (or assigns self.train) below nn.Module
    pretrained: bool  # cls.from_pretrained / from_config classmethod (returns an instance of cls)
    buffers: bool  # registers buffers in __init__
    subclasses_differ: Tuple[bool, bool] = (False, False)  # (params, batchnorm) of some subclass differ

    def as_type(self) -> Tuple[Optional[bool], Optional[bool]]:
        """(has_params, has_batchnorm) for a value only known to be an instance of this class or
        a subclass (an annotation, isinstance): a fact some subclass does not share is unknown."""
        return (
            None if self.subclasses_differ[0] else self.has_params,
            None if self.subclasses_differ[1] else self.has_batchnorm,
        )


class FactoryInfo(NamedTuple):
    """A call that returns a Module: `returns` are the possible classes (MODULE when unknown);
    with `tuple_index`, the Module is that element of a returned tuple (and, when
    `sometimes_plain`, some calls return the Module itself)."""

    qualname: str
    returns: Tuple[str, ...]
    tuple_index: Optional[int] = None
    sometimes_plain: bool = False


def _load() -> dict:
    global _DATA
    if _DATA is None:
        with open(_PATH, encoding="utf-8") as fh:
            _DATA = json.load(fh)
    return _DATA


def _decode(group: str, s: str) -> str:
    if s.startswith("."):
        return group + s
    return s if "." in s else f"{group}.{s}"


def _entry(section: str, q: str):
    group, _, name = q.rpartition(".")
    return _members(section, group).get(name)


_GROUPS: Dict[Tuple[str, str], dict] = {}


def _members(section: str, group: str) -> dict:
    """One group of a section, unpacked once: name -> entry."""
    key = (section, group)
    if key not in _GROUPS:
        _GROUPS[key] = unpack(section, group, _load()[section].get(group))
    return _GROUPS[key]


def unpack(section: str, group: str, packed) -> dict:
    """name -> entry of one group as stored (README.md, "Layout")."""
    if not packed:
        return {}
    if section == "modules":  # "Name;flags[;base,base]|..."
        out = {}
        for item in packed.split("|"):
            name, flags, *bases = item.split(";")
            out[name] = ([_decode(group, b) for b in bases[0].split(",")] if bases else [MODULE], flags)
        return out
    if section == "non_module_pretrained":  # "Name:kind|..."
        return dict(item.split(":", 1) for item in packed.split("|"))
    if section in ("aliases", "registries"):  # "module:Name,Name|=Renamed:target" / {module: [names]}
        items = packed.split("|") if isinstance(packed, str) else (
            [f"{m}:{','.join(n)}" for m, n in packed.items() if m != "="]
            + [f"={n}:{t}" for n, t in packed.get("=", {}).items()]
        )
        out = {}
        for item in items:
            head, _, rest = item.partition(":")
            if head.startswith("="):
                out[head[1:]] = _decode(group, rest)
            else:
                base = _decode(group, head)
                out.update((n, f"{base}.{n}") for n in rest.split(","))
        return out
    return packed  # factories: {name: entry}


def _known(q: str) -> bool:
    d = _load()
    return (
        _entry("modules", q) is not None
        or _entry("factories", q) is not None
        or _entry("non_module_pretrained", q) is not None
        or q in _optimizer_set()
        or q in d["wrappers"]
        or q in d["unwrappers"]["calls"]
        or q in d["registries"]
    )


def resolve(qualname: str) -> Optional[str]:
    """The canonical name of a library class/function the base knows, or None.

    `torch.nn.Linear` -> `torch.nn.modules.linear.Linear`; a method or attribute tail is kept:
    `transformers.AutoModel.from_pretrained` -> `transformers.models.auto.modeling_auto.AutoModel.from_pretrained`.
    """
    if _known(qualname):
        return qualname
    parts = qualname.split(".")
    for i in range(len(parts), 1, -1):
        head, tail = ".".join(parts[:i]), parts[i:]
        group, _, name = head.rpartition(".")
        target = _members("aliases", group).get(name)
        if target is not None:
            return ".".join([target] + tail)
        if tail and _known(head):
            return ".".join([head] + tail)
    return None


def module_class(qualname: str) -> Optional[ModuleInfo]:
    q = resolve(qualname)
    e = _entry("modules", q) if q else None
    if e is None:
        return None
    bases, flags = e
    return ModuleInfo(
        qualname=q,
        bases=tuple(bases),
        has_params=True if "P" in flags else False if "p" in flags else None,
        has_batchnorm=True if "B" in flags else False if "b" in flags else None,
        container="C" in flags,
        overrides_train="T" in flags,
        pretrained="F" in flags,
        buffers="R" in flags,
        subclasses_differ=("s" in flags, "z" in flags),
    )


def is_module_class(qualname: str) -> bool:
    return qualname == "torch.nn.Module" or module_class(qualname) is not None


def mro(qualname: str) -> Tuple[str, ...]:
    """The class and its known ancestors (depth first, each once); () when not a known Module class."""
    out = []
    todo = [resolve(qualname) or qualname]
    while todo:
        q = todo.pop(0)
        info = module_class(q) if q not in out else None
        if info is not None:
            out.append(info.qualname)
            todo[:0] = [b for b in info.bases if b not in out]
    return tuple(out)


def factory(qualname: str) -> Optional[FactoryInfo]:
    """What calling `qualname` gives, when it is a Module (or a tuple holding one).

    Besides the recorded builders, `C.from_pretrained` / `C.from_config` of a Module class C with
    such a classmethod (PreTrainedModel, ModelMixin, PeftModel...) gives an instance of C."""
    q = resolve(qualname)
    if q is None:
        return None
    e = _entry("factories", q)
    if e is not None:
        group = q.rpartition(".")[0]
        return FactoryInfo(q, tuple(_decode(group, c) for c in e[0]), e[1] if len(e) > 1 else None, len(e) > 2)
    owner, _, method = q.rpartition(".")
    if method in PRETRAINED_METHODS:
        info = module_class(owner)
        if info is not None and info.pretrained:
            return FactoryInfo(q, (info.qualname,))
    return None


def returns_self(method: str, cls: Optional[str] = None) -> bool:
    """`module.<method>(...)` returns the module itself (`to`, `cuda`, `train`, `eval`, `requires_grad_`...);
    with `cls`, False where a library class in its MRO overrides the method without returning self."""
    if method not in _returns_self_set():
        return False
    if cls is not None:
        exceptions = _load()["returns_self_exceptions"]
        for q in mro(cls):
            if method in exceptions.get(q, ()):
                return False
    return True


def wrapper(qualname: str) -> Optional[Dict[str, object]]:
    """How a call wraps a Module (DDP, FSDP, torch.compile, accelerate, deepspeed, peft, Fabric):
    kind, arg/kw (the wrapped module), returns ("wrapper", "same", "args", "tuple"), class,
    index (for "tuple"), inner (the attribute holding the module), only_trainable."""
    q = resolve(qualname)
    return _load()["wrappers"].get(q) if q else None


def unwrapper(qualname: str) -> Optional[Dict[str, object]]:
    """A call that gives back the module inside a wrapper (`accelerator.unwrap_model(m)`): {"arg": i}."""
    q = resolve(qualname)
    return _load()["unwrappers"]["calls"].get(q) if q else None


def unwrap_attribute(attr: str) -> Tuple[str, ...]:
    """The wrapper classes whose `.attr` is the wrapped module (`module`, `_orig_mod`, `base_model`)."""
    return tuple(_load()["unwrappers"]["attributes"].get(attr, ()))


def is_optimizer_class(qualname: str) -> bool:
    q = resolve(qualname) or qualname
    return q == OPTIMIZER or q in _optimizer_set()


def non_module_pretrained(qualname: str) -> Optional[str]:
    """The kind ("tokenizer", "processor", "image_processor", "config", "scheduler", "pipeline",
    "feature_extractor", "video_processor", "other") of a class whose from_pretrained is not a Module;
    accepts the class or its `.from_pretrained`/`.from_config`."""
    q = resolve(qualname)
    if q is None:
        return None
    kind = _entry("non_module_pretrained", q)
    if kind is None and q.rpartition(".")[2] in PRETRAINED_METHODS:
        kind = _entry("non_module_pretrained", q.rpartition(".")[0])
    return kind


def registered(registry: str, name: str) -> Optional[str]:
    """The class or builder registered under `name` (`MODELS.register_module()`, timm's
    `register_model`, torchvision's `register_model()`); registry: its qualname."""
    reg = resolve(registry) or registry
    return unpack("registries", reg.rpartition(".")[0], _load()["registries"].get(reg)).get(name)


def sources() -> Dict[str, str]:
    """Library -> version the base was generated from."""
    return dict(_load()["sources"])


_CACHE: Dict[str, frozenset] = {}


def _optimizer_set() -> frozenset:
    if "opt" not in _CACHE:
        _CACHE["opt"] = frozenset(f"{g}.{n}" for g, names in _load()["optimizers"].items() for n in names)
    return _CACHE["opt"]


def _returns_self_set() -> frozenset:
    if "self" not in _CACHE:
        _CACHE["self"] = frozenset(_load()["returns_self"])
    return _CACHE["self"]
