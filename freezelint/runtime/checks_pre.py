"""Checks that need no step: selectors, declarations, optimizer membership, DDP.

FRZ504 (declared frozen, still trainable; also `eval()` used as a freeze),
FRZ505, FRZ506 for `trainable=` names that are frozen, FRZ508, FRZ509 when
nothing requires grad, FRZ510, FRZ511, FRZ512, FRZ513 (tensors it cannot check).
"""

from __future__ import annotations

from typing import Any, List, Optional, Set

from torch import nn

from freezelint.findings import Severity
from freezelint.runtime.collect import Target, finding, grouped_modules
from freezelint.runtime.fingerprint import checkable
from freezelint.runtime.params import ParamInfo
from freezelint.runtime.selectors import is_ddp, prefixes

# The audit these checks read (audit.FreezeAudit): named, not imported, since audit.py imports this module.
FreezeAudit = Any


E, W = Severity.ERROR, Severity.WARNING
# Layers whose eval() is a legitimate "fixed statistics" choice, not a freeze attempt.
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def mod_ref(name: str) -> str:
    """A Python expression for the module or parameter `name` of `model`."""
    if not name:
        return "model"
    out = "model"
    for part in name.split("."):
        if part.isidentifier():
            out += f".{part}"
        elif part.isdigit():
            out += f"[{part}]"
        else:
            return f"model.get_submodule({name!r})"
    return out


def eval_module(a: "FreezeAudit", info: ParamInfo) -> Optional[str]:
    """The outermost module above `info` in eval mode while the model trains."""
    if not a.root_training:
        return None
    for pre in prefixes(info.name)[:-1]:
        m = a.modules_by_name.get(pre)
        if m is not None and not m.training:
            return pre
    return None


def run(a: "FreezeAudit") -> None:
    _selectors(a)
    _tied(a)
    _declared_frozen(a)
    _eval_as_freeze(a)
    _membership(a)
    _nothing_trainable(a)
    _unchecked(a)
    _ddp(a)


def _selectors(a: "FreezeAudit") -> None:
    everything = list(a.names.module_names())
    for e in a.names.params + a.names.buffers:
        everything.extend(e.names)
    for kind, raw in a.sel.unmatched(everything):
        close = a.sel.suggest(raw, everything)
        hint = f"; did you mean {close!r}?" if close else ""
        a.pre.append(finding(
            "FRZ510", E, raw,
            f"`{kind}=` selector {raw!r} matches no parameter, buffer or module; names are dotted, "
            f"without DDP's `module.` or torch.compile's `_orig_mod.` prefixes{hint}",
        ))


def _tied(a: "FreezeAudit") -> None:
    for i in a.ps:
        if i.kind == "conflict":
            others = ", ".join(f"`{n}`" for n in i.names[1:])
            a.pre.append(finding(
                "FRZ512", E, i.name,
                f"is the same Parameter as {others} (tied); the selectors freeze one name and train the other, "
                f"but requires_grad belongs to the tensor: freeze all its names, or untie it "
                f"(`<module>.weight = nn.Parameter(<tied>.weight.detach().clone())`)",
            ))


def _declared_frozen(a: "FreezeAudit") -> None:
    for i in a.ps:
        if i.kind != "frozen" or not i.explicit or not i.start_req:
            continue
        if i.attr_reason is not None:
            why, m = i.attr_reason
            if why == "attr":
                a.cands.add("FRZ504", E, f"attr:{m}", [i.name], lambda t, m=m: (
                    f"declared frozen but requires_grad=True{t.count}: `{mod_ref(m)}.requires_grad = False` set a "
                    f"plain attribute; call `{mod_ref(m)}.requires_grad_(False)`"))
            else:
                a.cands.add("FRZ504", E, f"method:{m}", [i.name], lambda t, m=m: (
                    f"declared frozen but requires_grad=True{t.count}: `{mod_ref(m)}.requires_grad_` was overwritten "
                    f"by an attribute, so nothing was frozen; remove the assignment and call `{mod_ref(m)}.requires_grad_(False)`"))
            continue
        em = eval_module(a, i)
        if em is not None:
            a.cands.add("FRZ504", E, f"eval:{em}", [i.name], lambda t, m=em: (
                f"declared frozen but requires_grad=True{t.count}: `{mod_ref(m)}` is in eval mode, and eval() does "
                f"not freeze parameters (it only switches dropout/BatchNorm); call `{mod_ref(m)}.requires_grad_(False)`"))
            continue
        a.cands.add("FRZ504", E, f"sel:{i.selector}", [i.name], lambda t, s=i.selector: (
            f"named by `frozen=[{s!r}]` but requires_grad=True{t.count}; call "
            f"`{mod_ref(t.obj) if not t.group else 'module'}.requires_grad_(False)` before building the optimizer"))


def _eval_as_freeze(a: "FreezeAudit") -> None:
    """`frozen=None`: a submodule left in eval() while the model trains, whose weights
    all still train, looks like eval() used as a freeze (norm layers excepted)."""
    if a.frozen is not None or not a.root_training:
        return
    flagged: List[str] = []
    for name, m in a.names.modules:
        if not name or m.training or isinstance(m, _NORM_TYPES) or any(name.startswith(f + ".") for f in flagged):
            continue
        ps = [a.by_id.get(id(p)) for p in m.parameters()]
        ps = [i for i in ps if i is not None and i.kind != "ignored"]
        weights = [i for i in ps if not isinstance(a.modules_by_name.get(i.name.rpartition(".")[0]), _NORM_TYPES)]
        if weights and all(i.start_req for i in ps) and (not a.opt_known or all(i.in_opt for i in weights)):
            flagged.append(name)
    a.pre.extend(grouped_modules("FRZ504", W, flagged, lambda obj, group: (
        f"{'these modules are' if group else 'is'} in eval mode while the model trains, but "
        f"{'their' if group else 'its'} parameters require grad and the optimizer updates them"
        f"{' (' + str(len(group)) + ' modules: ' + ', '.join(group[:3]) + ')' if group else ''}: eval() does not "
        f"freeze; if this is meant as a freeze call `{mod_ref(obj) if not group else 'module'}.requires_grad_(False)`, "
        f"otherwise name what is frozen with `frozen=[...]` (then eval mode alone is not reported)")))


def _membership(a: "FreezeAudit") -> None:
    ps = a.ps
    if a.opt_known:
        universe = set(a.universe)

        def add_hint(t: Target) -> str:
            if t.group:
                return ("build the optimizer after unfreezing, from `[p for p in model.parameters() if p.requires_grad]`, "
                        "or `optimizer.add_param_group({'params': [those parameters]})`")
            if t.obj in universe:  # one parameter (also a module's only one)
                return f"add it with `optimizer.add_param_group({{'params': [{mod_ref(t.obj)}]}})` (or build the optimizer after unfreezing)"
            return f"after unfreezing call `optimizer.add_param_group({{'params': list({mod_ref(t.obj)}.parameters())}})`"

        a.cands.add(
            "FRZ505", E, "", [i.name for i in ps if i.kind == "trainable" and i.start_req and not i.in_opt],
            lambda t: f"requires grad but is in no optimizer param group{t.count}: it gets gradients and never updates; {add_hint(t)}",
        )
        a.cands.add(
            "FRZ508", W, "", [i.name for i in ps if i.kind == "frozen" and not i.start_req and i.in_opt],
            lambda t: f"frozen but held by the optimizer{t.count}: zero-filled or stale grads and weight decay would "
            f"move it and the optimizer keeps state for it; build the optimizer from "
            f"`[p for p in model.parameters() if p.requires_grad]`",
        )
    a.cands.add(
        "FRZ506", E, "flag",
        [i.name for i in ps if i.kind == "trainable" and i.explicit and not i.start_req and a.trainable],
        lambda t: f"named by `trainable=` but requires_grad=False{t.count}: it cannot get a gradient (frozen along "
        f"with the rest?); call `{mod_ref(t.obj) if not t.group else 'module'}.requires_grad_(True)` after freezing "
        f"and before building the optimizer",
    )


def _nothing_trainable(a: "FreezeAudit") -> None:
    checked = [i for i in a.ps if i.kind != "ignored"]
    a.nothing_trainable = bool(checked) and not any(i.start_req for i in checked)
    if a.nothing_trainable:
        a.pre.append(finding(
            "FRZ509", E, None,
            "no parameter requires grad, so no parameter can receive a gradient (a new head frozen along with the "
            "backbone?); freeze before replacing the head, or call `head.requires_grad_(True)`",
        ))


def _unchecked(a: "FreezeAudit") -> None:
    names = [e.name for e in a.names.params + a.names.buffers if not checkable(e.tensor)]
    if names:
        a.pre.append(finding(
            "FRZ513", W, names[0] if len(names) == 1 else None,
            f"{len(names)} tensor{'s are' if len(names) != 1 else ' is'} on the meta device (no data), so "
            f"{'their' if len(names) != 1 else 'its'} changes cannot be checked: "
            f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}; materialise the model "
            f"(`model.to_empty(device=...)` and load the weights) before auditing",
            names,
        ))


def _ddp(a: "FreezeAudit") -> None:
    for mname, m in a.names.modules:
        if not is_ddp(m):
            continue
        try:
            data = m._get_ddp_logging_data()
            reg_count = int(data.get("num_parameter_tensors", -1))
            reg_bytes = int(data.get("total_parameter_size_bytes", -1))
        except Exception:
            continue
        ignore = getattr(m, "parameters_to_ignore", set())
        seen: Set[int] = set()
        now = []
        for n, p in m.module.named_parameters():
            if p.requires_grad and n not in ignore and id(p) not in seen:
                seen.add(id(p))
                now.append(p)
        now_bytes = sum(p.numel() * p.element_size() for p in now)
        if reg_count == len(now) and reg_bytes == now_bytes:
            continue
        registered: Optional[Set[int]] = None
        try:  # exact set; allocates one gradient-sized buffer per bucket, only on this error path
            registered = {id(p) for b in m.reducer._get_zeros_like_grad_buckets() for p in b.parameters()}
        except Exception:
            pass
        if registered is None:
            a.pre.append(finding(
                "FRZ511", E, mname or None,
                f"DDP registered {reg_count} parameters that require grad at construction, now {len(now)} do; "
                f"change requires_grad before wrapping in DistributedDataParallel",
            ))
            continue
        now_ids = {id(p) for p in now}
        frozen_after = [a.by_id[i].name for i in registered - now_ids if i in a.by_id]
        unfrozen_after = [a.by_id[i].name for i in now_ids - registered if i in a.by_id]
        a.cands.add("FRZ511", E, f"frozen:{mname}", frozen_after, lambda t: (
            f"frozen after DistributedDataParallel was built{t.count}: DDP still waits for its gradient (the reduction "
            f"never finishes, or its bucket is never synchronised); freeze first, then wrap: "
            f"`module.requires_grad_(False); model = DistributedDataParallel(model)`"))
        a.cands.add("FRZ511", E, f"unfrozen:{mname}", unfrozen_after, lambda t: (
            f"unfrozen after DistributedDataParallel was built{t.count}: DDP never synchronises its gradient, so "
            f"replicas diverge; unfreeze before wrapping, or wrap again"))


__all__ = ["mod_ref", "run"]
