"""Wrappers and unwrappers: which calls put a Module inside another object, and how to get it back.

Which entry points are wrappers is a fact about the library's behaviour, not something a
body walk can name, so the entry points are listed here. Everything else is read from the
sources: an entry whose function or class is not in them is dropped (the knowledge base
never names what the sources do not have), the attribute a wrapper class keeps its module
in is read from its `__init__`, and accelerate's "only models with trainable parameters are
wrapped" is kept only while its `prepare_model` still tests `any(p.requires_grad ...)`.

Wrapper fields:  kind; arg (position of the wrapped module) and kw (its keyword);
returns: "wrapper" (an instance of `class`), "same" (the module itself, changed in place),
"args" (each argument back, in order, each maybe wrapped), "tuple" (element `index` is the
wrapper); inner: the attribute of the wrapper that holds the module; only_trainable.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .resolve import Index

WRAPPERS: List[Tuple[str, dict]] = [
    ("torch.nn.parallel.distributed.DistributedDataParallel", {"kind": "ddp", "returns": "wrapper"}),
    ("torch.nn.parallel.data_parallel.DataParallel", {"kind": "dp", "returns": "wrapper"}),
    ("torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
     {"kind": "fsdp", "returns": "wrapper", "inner": "module"}),
    ("torch.distributed.fsdp._fully_shard._fully_shard.fully_shard", {"kind": "fully_shard", "returns": "same"}),
    ("torch.compile", {"kind": "compile", "returns": "wrapper", "class": "torch._dynamo.eval_frame.OptimizedModule",
                       "inner": "_orig_mod"}),
    ("accelerate.accelerator.Accelerator.prepare", {"kind": "accelerate", "returns": "args"}),
    ("accelerate.accelerator.Accelerator.prepare_model", {"kind": "accelerate", "returns": "wrapper",
                                                          "class": "torch.nn.parallel.distributed.DistributedDataParallel",
                                                          "inner": "module"}),
    ("deepspeed.initialize", {"kind": "deepspeed", "returns": "tuple", "index": 0, "kw": "model",
                              "class": "deepspeed.runtime.engine.DeepSpeedEngine", "inner": "module"}),
    ("peft.mapping_func.get_peft_model", {"kind": "peft", "returns": "wrapper", "class": "peft.peft_model.PeftModel",
                                          "inner": "base_model"}),
    ("peft.peft_model.PeftModel", {"kind": "peft", "returns": "wrapper", "inner": "base_model"}),
    ("peft.tuners.lora.model.LoraModel", {"kind": "peft", "returns": "wrapper", "inner": "model"}),
    ("lightning.fabric.fabric.Fabric.setup", {"kind": "fabric", "returns": "args",
                                              "class": "lightning.fabric.wrappers._FabricModule", "inner": "module"}),
    ("lightning.fabric.fabric.Fabric.setup_module", {"kind": "fabric", "returns": "wrapper",
                                                     "class": "lightning.fabric.wrappers._FabricModule", "inner": "module"}),
    ("lightning_fabric.fabric.Fabric.setup", {"kind": "fabric", "returns": "args",
                                              "class": "lightning_fabric.wrappers._FabricModule", "inner": "module"}),
    ("lightning_fabric.fabric.Fabric.setup_module", {"kind": "fabric", "returns": "wrapper",
                                                     "class": "lightning_fabric.wrappers._FabricModule", "inner": "module"}),
]
# Calls that give back the module inside a wrapper (arg: the wrapper's position).
UNWRAP_CALLS = [
    "accelerate.accelerator.Accelerator.unwrap_model",
    "accelerate.utils.other.extract_model_from_parallel",
    "transformers.modeling_utils.unwrap_model",
    "peft.peft_model.PeftModel.get_base_model",
    "lightning.fabric.wrappers._unwrap_objects",
    "lightning_fabric.wrappers._unwrap_objects",
]
# Attributes that hold the wrapped module, with the wrapper classes they belong to.
UNWRAP_ATTRIBUTES = {
    "module": ["torch.nn.parallel.distributed.DistributedDataParallel", "torch.nn.parallel.data_parallel.DataParallel",
               "torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
               "deepspeed.runtime.engine.DeepSpeedEngine", "lightning.fabric.wrappers._FabricModule",
               "lightning_fabric.wrappers._FabricModule"],
    "_orig_mod": ["torch._dynamo.eval_frame.OptimizedModule"],
    "base_model": ["peft.peft_model.PeftModel"],
}
_WRAPPED_ARG_NAMES = ("module", "model", "mod", "forward_module")


def _lookup(ix: Index, q: str):
    """(kind, summary, owner class) for a function, a method or a class named `q`."""
    r = ix.resolve(q) or q
    if r in ix.classes:
        return "class", ix.classes[r], r
    if r in ix.functions:
        return "function", ix.functions[r], None
    owner, _, name = r.rpartition(".")
    if owner in ix.classes:
        o, f = ix.method(owner, name)
        if f is not None:
            return "method", f, owner
    return None, None, None


def _wrapped_arg(f, skip_self: bool) -> Tuple[Optional[int], Optional[str]]:
    args = f.args[1:] if skip_self else f.args
    for i, a in enumerate(args):
        if a in _WRAPPED_ARG_NAMES:
            return i, a
    return (0, args[0]) if args else (None, None)


def _inner_attr(ix: Index, cls: str, arg: str) -> Optional[str]:
    """The attribute the class's `__init__` stores its module argument in (`self.module = module`)."""
    _, init = ix.method(cls, "__init__")
    if init is None:
        return None
    for kind, attr, v in init.effects:
        if kind == "set" and v == ("l", arg):
            return attr
    return None


def wrappers(ix: Index, prefixes: List[str]) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    for q, info in WRAPPERS:
        if not q.startswith(tuple(p + "." for p in prefixes)):
            continue
        kind, f, owner = _lookup(ix, q)
        if kind is None:
            continue
        entry = dict(info)
        init = ix.method(owner, "__init__")[1] if kind == "class" else f
        if info["returns"] == "args":  # every positional argument comes back, each maybe wrapped
            entry.setdefault("arg", 0)
        elif init is not None:
            pos, name = _wrapped_arg(init, skip_self=kind in ("class", "method"))
            entry.setdefault("arg", pos)
            entry.setdefault("kw", name)
            if kind == "class":
                entry.setdefault("class", ix.resolve(q) or q)
                found = _inner_attr(ix, owner, name) if name else None
                if found:
                    entry["inner"] = found
        if info["kind"] == "accelerate":
            _, pm, _ = _lookup(ix, "accelerate.accelerator.Accelerator.prepare_model")
            entry["only_trainable"] = pm is not None and "any_requires_grad" in pm.source_hints
        cls = entry.get("class")
        if cls and ix.resolve(cls) is None and cls not in ix.classes:
            entry.pop("class")  # only name what the sources define
        out[ix.resolve(q) or q] = {k: v for k, v in entry.items() if v is not None}
    return out


def unwrappers(ix: Index, prefixes: List[str]) -> Dict[str, dict]:
    inside = tuple(p + "." for p in prefixes)
    calls = {}
    for q in UNWRAP_CALLS:
        if q.startswith(inside) and _lookup(ix, q)[0] is not None:
            calls[ix.resolve(q) or q] = {"arg": 0}
    attributes = {}
    for attr, classes in UNWRAP_ATTRIBUTES.items():
        found = [c for c in classes if c.startswith(inside) and c in ix.classes]
        if found:
            attributes[attr] = found
    return {"calls": calls, "attributes": attributes}
