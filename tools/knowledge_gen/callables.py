"""Functions and methods: `returns_self`, `factories`, registries of model builders, and the
classes whose `from_pretrained` gives something that is not a Module."""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from .classes import pretrained_owner
from .evaluate import Evaluator
from .resolve import MODULE, Index

# Classes whose `from_pretrained`/`from_config` pick the model class at run time from a config:
# the body says `model_class.from_pretrained(...)`, which no static reading can name. Each maps to
# the base class every result derives from. Entries whose classes are not in the sources are dropped.
AUTO_MODEL_BASES = {
    "transformers.models.auto.auto_factory._BaseAutoModelClass": "transformers.modeling_utils.PreTrainedModel",
    "peft.auto._BaseAutoPeftModel": "peft.peft_model.PeftModel",
    "diffusers.models.auto_model.AutoModel": "diffusers.models.modeling_utils.ModelMixin",
}
# Calls whose result is a Module the body cannot name (it runs user or config code): kept
# when the function is in the sources.
OPAQUE_FACTORIES = ("torch.hub.load", "mmpretrain.apis.model.get_model")
# Decorators that register a model builder under its function name (`timm.create_model("resnet50")`).
BUILDER_REGISTRIES = ("timm.models._registry.register_model", "torchvision.models._api.register_model")
_KINDS = (  # first match on the class's MRO names wins
    ("ImageProcessor", "image_processor"), ("FeatureExtractor", "feature_extractor"),
    ("VideoProcessor", "video_processor"), ("Tokenizer", "tokenizer"), ("Processor", "processor"),
    ("Config", "config"), ("Scheduler", "scheduler"), ("Pipeline", "pipeline"),
)


def derive_returns_self(ix: Index) -> List[str]:
    """Methods of torch's Module whose every return is `self` (directly or through another such method)."""
    if MODULE not in ix.classes:
        return []
    methods = ix.classes[MODULE].methods
    found: Set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, f in methods.items():
            if name in found or not f.returns or f.kind != "def":
                continue
            if all(_is_self(v, found) for v in f.returns):
                found.add(name)
                changed = True
    return sorted(found)


def returns_self_exceptions(ix: Index, ev: Evaluator, prefixes: List[str]) -> Dict[str, List[str]]:
    """Module classes that override a returns-self method with one that does not return self
    (`_RemoteModule.to` returns None, deepspeed's engine...): class -> methods."""
    out: Dict[str, List[str]] = {}
    for q in sorted(ix.classes):
        if not _in(q, prefixes) or q == MODULE or not ev.is_module(q):
            continue
        own = ix.classes[q].methods
        if not any(name in own for name in ev.returns_self):
            continue
        for name in sorted(ev.returns_self):  # also inherited ones: Module.eval returns self.train(False)
            owner, f = ix.method(q, name)
            if f is None:
                continue
            kinds = ev.returns(owner, f, q, 0)
            if not kinds or not all(k[0] == "mod" and k[1] == q for k in kinds):
                out.setdefault(q, []).append(name)
    return out


def _is_self(v, found: Set[str]) -> bool:
    if v == ("s",):
        return True
    if v[0] == "call" and v[1][0] == "at" and v[1][1] == ("s",):
        return v[1][2] in found
    return False


def _in(q: str, prefixes: List[str]) -> bool:
    return q.startswith(tuple(p + "." for p in prefixes))


def factory_entry(ix: Index, ev: Evaluator, f) -> Optional[list]:
    """[classes, tuple_index, mixed] when calling `f` gives a Module (or a tuple holding one)."""
    kinds = ev.returns(None, f, None, 0)
    classes = {k[1] or MODULE for k in kinds if k[0] == "mod"}
    if classes and all(k[0] in ("mod", "unk") for k in kinds):
        if any(k[0] == "unk" for k in kinds):
            classes.add(MODULE)  # some path gives a Module the sources do not name
        return [sorted(classes), None, False]
    # a tuple: `return model, preprocess_train, preprocess_val`
    positions: Set[int] = set()
    plain = False
    tuple_classes: Set[str] = set()
    for v in f.returns:
        if v[0] == "seq":
            for i, elem in enumerate(v[1]):
                ks = ev.eval(elem, (None, f, None), 1)
                mods = {k[1] or MODULE for k in ks if k[0] == "mod"}
                if mods:
                    positions.add(i)
                    tuple_classes |= mods
        else:
            ks = ev.eval(v, (None, f, None), 1)
            if any(k[0] == "mod" for k in ks):
                plain = True
                tuple_classes |= {k[1] or MODULE for k in ks if k[0] == "mod"}
    if len(positions) == 1:
        return [sorted(tuple_classes), positions.pop(), plain]
    return None


def factories(ix: Index, ev: Evaluator, prefixes: List[str]) -> Dict[str, list]:
    out: Dict[str, list] = {}
    registered = set(builder_registry(ix, prefixes).get("_all", {}).values())
    for q in sorted(ix.functions):
        if not _in(q, prefixes):
            continue
        name = q.rpartition(".")[2]
        if name.startswith("_") and q not in registered:
            continue
        entry = factory_entry(ix, ev, ix.functions[q])
        if entry is None and q in registered:
            entry = [[MODULE], None, False]  # a registered model builder whose class the body hides
        if entry is not None:
            out[q] = entry
    for q in OPAQUE_FACTORIES:
        owner = q.rpartition(".")[0]
        if _in(q, prefixes) and (q in ix.functions or owner in ix.classes and ix.method(owner, q.rpartition(".")[2])[1]):
            out[q] = [[MODULE], None, False]
    for base, result in AUTO_MODEL_BASES.items():
        if base not in ix.classes or not _in(base, prefixes):
            continue
        for q in sorted(ix.classes):
            if ix.is_subclass(q, base) and not q.rpartition(".")[2].startswith("_"):
                for m in ("from_pretrained", "from_config"):
                    if ix.method(q, m)[1] is not None:
                        out[f"{q}.{m}"] = [[result], None, False]
    return out


def builder_registry(ix: Index, prefixes: List[str]) -> Dict[str, Dict[str, str]]:
    """registry decorator -> {model name: builder function}; "_all" holds every builder."""
    out: Dict[str, Dict[str, str]] = {}
    for q in sorted(ix.functions):
        if not _in(q, prefixes):
            continue
        for d in ix.functions[q].decorators:
            target = d[1] if d[0] == "call" else d
            if target[0] != "n":
                continue
            r = ix.resolve(target[1]) or target[1]
            if r in BUILDER_REGISTRIES:
                out.setdefault(r, {})[q.rpartition(".")[2]] = q
                out.setdefault("_all", {})[q] = q
    return out


def non_module_pretrained(ix: Index, ev: Evaluator, prefixes: List[str]) -> Dict[str, str]:
    """Classes with a from_pretrained/from_config classmethod that are not Modules -> their kind."""
    autos = [b for b in AUTO_MODEL_BASES if b in ix.classes]
    out: Dict[str, str] = {}
    for q in sorted(ix.classes):
        if not _in(q, prefixes) or ev.is_module(q) or q.rpartition(".")[2].startswith("_"):
            continue
        if any(ix.is_subclass(q, b) for b in autos) or not pretrained_owner(ix, q):
            continue
        names = [a.rpartition(".")[2] for a in ix.mro(q)]  # the class's own name first
        out[q] = next((kind for n in names for key, kind in _KINDS if key in n), "other")
    return out

