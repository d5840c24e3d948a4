"""What the audit knows about each parameter before the step: frozen, trainable, ignored.

`frozen=None` means "what has requires_grad=False now" (plus modules that say
`module.requires_grad = False`, the FRZ001 mistake: that declares an intent to
freeze). With an explicit `frozen=`, only what it names must stay frozen: other
parameters without requires_grad (an EMA / mean teacher updated in the step)
are `frozen` but not `explicit`, and changing without a gradient is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from freezelint.runtime.selectors import ModelNames, Selectors, prefixes


@dataclass
class ParamInfo:
    tensor: torch.Tensor
    name: str
    names: List[str]
    start_req: bool
    kind: str  # "frozen" | "trainable" | "conflict" | "ignored"
    explicit: bool  # named by a selector (or by `module.requires_grad = False`)
    selector: Optional[str]
    in_opt: bool
    groups: List[dict] = field(default_factory=list)
    attr_reason: Optional[Tuple[str, str]] = None  # (why, module name) for FRZ504


def module_table(names: ModelNames) -> Dict[str, nn.Module]:
    out: Dict[str, nn.Module] = {}
    for n, m in names.modules:
        out.setdefault(n, m)
    return out


def attr_reason(modules: Dict[str, nn.Module], names: Sequence[str]) -> Optional[Tuple[str, str]]:
    """The `module.requires_grad = False` (or overwritten `requires_grad_`) mistake above one of `names`."""
    for n in names:
        for pre in [""] + prefixes(n)[:-1]:
            m = modules.get(pre)
            if m is None:
                continue
            d = m.__dict__
            if "requires_grad_" in d:
                return ("method", pre)
            if "requires_grad" in d and not d["requires_grad"]:
                return ("attr", pre)
    return None


def classify(names: ModelNames, sel: Selectors, held: Dict[int, List[dict]], explicit_frozen: bool) -> List[ParamInfo]:
    modules = module_table(names)
    out: List[ParamInfo] = []
    for e in names.params:
        p = e.tensor
        req = bool(p.requires_grad)
        if sel.ignored(e.names):
            out.append(ParamInfo(p, e.name, list(e.names), req, "ignored", True, None, id(p) in held, held.get(id(p), [])))
            continue
        kinds, sels = [], []
        for n in e.names:
            c = sel.classify(n)
            kinds.append(c.kind or ("trainable" if req else "frozen"))
            sels.append(c.selector)
        explicit = any(s is not None for s in sels)
        kind = kinds[0] if len(set(kinds)) == 1 else "conflict"
        selector = next((s for s, k in zip(sels, kinds) if s is not None and k == kind), None)
        if kind == "conflict":
            selector = next((s for s in sels if s is not None), None)
        if not explicit and kind == "frozen" and not explicit_frozen:
            explicit = True  # frozen=None: requires_grad=False is the declaration
        info = ParamInfo(p, e.name, list(e.names), req, kind, explicit, selector, id(p) in held, held.get(id(p), []))
        reason = attr_reason(modules, e.names)
        if reason is not None and not explicit_frozen and kind == "trainable" and req:
            info.kind, info.explicit, info.attr_reason = "frozen", True, reason
        elif reason is not None:
            info.attr_reason = reason
        out.append(info)
    return out


def lora_a_with_zero_b(infos: Sequence[ParamInfo]) -> set:
    """ids of PEFT `lora_A` weights whose `lora_B` partner is all zeros (its initial
    value): on that step lora_A's gradient is exactly zero by construction."""
    by_name = {i.name: i for i in infos}
    out = set()
    with torch.no_grad():
        for i in infos:
            if ".lora_A." not in f".{i.name}.":
                continue
            partner = by_name.get(i.name.replace("lora_A", "lora_B"))
            if partner is None:
                continue
            t = partner.tensor
            t = getattr(t, "_local_tensor", t)
            if t.layout == torch.strided and t.device.type != "meta" and not t.is_quantized and not bool(t.any()):
                out.add(id(i.tensor))
    return out


__all__ = ["ParamInfo", "attr_reason", "classify", "lora_a_with_zero_b", "module_table"]
