"""Checks that need the step: FRZ501, FRZ502, FRZ503, FRZ505 (replaced), FRZ506, FRZ507, FRZ509.

One cause is named once: when FRZ502 says the optimizer moved a frozen
parameter through a zero-filled or stale gradient, the FRZ501 (it had a grad)
and FRZ508 (the optimizer holds it) findings for the same parameter are dropped:
FRZ502's message names both and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from freezelint.findings import Finding, Severity
from freezelint.runtime.checks_pre import mod_ref
from freezelint.runtime.collect import finding, grouped_modules

if TYPE_CHECKING:
    from freezelint.runtime.params import ParamInfo

# The audit these checks read (audit.FreezeAudit): named, not imported, since audit.py imports this module.
FreezeAudit = Any


E, W = Severity.ERROR, Severity.WARNING


def run_after_failed_step(a: "FreezeAudit") -> None:
    _forward_disabled(a, only_if_disabled=True)


def _forward_disabled(a: "FreezeAudit", only_if_disabled: bool) -> bool:
    if a.nothing_trainable:
        return True
    modes = a.forward_modes
    if modes and all(im for _, im in modes):
        why = "the model's forward ran under torch.inference_mode()"
    elif modes and all(not g for g, _ in modes):
        why = "the model's forward ran under torch.no_grad()"
    elif only_if_disabled:
        return False
    elif not modes:
        why = "the model's forward was not called through the model and no backward reached any parameter"
    else:
        why = "backward() never reached any parameter (no loss.backward(), or the loss was detached)"
    a.pre.append(finding(
        "FRZ509", E, None,
        f"no parameter received a gradient during the step: {why}; keep torch.no_grad() around the frozen part "
        f"only (`with torch.no_grad(): feats = model.backbone(x)`) and run the trainable part with autograd on",
    ))
    return True


def run(a: "FreezeAudit") -> None:
    flags = a.changes.changed_flags()
    np_ = a.changes.n_params
    changed = {id(e.tensor) for e, c in zip(a.changes.entries[:np_], flags[:np_]) if c}
    changed_buffers = [e for e, c in zip(a.changes.entries[np_:], flags[np_:]) if c]
    replaced = {id(e.tensor): now for k, e, now in a.changes.replaced() if k < np_}
    if a._snapshot is not None:
        a.unrestored = [
            i.name for i in a.ps
            if id(i.tensor) in changed and id(i.tensor) not in replaced and id(i.tensor) not in a._snapshot.copied_param_ids
        ]
    step_hooked = bool(a.optimizers)
    step_ran = a.step_calls > 0

    got_grad = set(a.grad_events) | set(a.grad_at_step) | set(a.frozen_grad_at_step)
    got_grad |= {id(i.tensor) for i in a.ps if i.tensor.grad is not None}

    no_grad_at_all = not got_grad and any(i.start_req for i in a.ps if i.kind != "ignored")
    if no_grad_at_all:
        _forward_disabled(a, only_if_disabled=False)

    for i in a.ps:
        pid = id(i.tensor)
        if i.kind == "ignored":
            continue
        if pid in replaced:
            _replaced(a, i, replaced[pid])
            continue
        if i.kind == "frozen" and not i.start_req:
            _frozen(a, i, pid in changed, step_ran)
        elif i.kind == "trainable" and i.start_req and i.in_opt:
            sev = E if (i.explicit and a.trainable) else W
            if pid not in got_grad:
                if not no_grad_at_all:
                    a.cands.add("FRZ506", sev, "nograd", [i.name], lambda t: (
                        f"trainable and held by the optimizer but received no gradient{t.count} (unused in forward, "
                        f"detached, or computed under torch.no_grad()); keep no_grad() around the frozen part only, "
                        f"or drop it from the model"))
            elif pid not in changed:
                why = _unchanged_reason(a, i, step_hooked, step_ran)
                if why is not None:
                    a.cands.add("FRZ507", sev, why, [i.name], lambda t, why=why: (
                        f"trainable, got a gradient, but did not change during the step{t.count}: {why}"))
    _buffers(a, changed_buffers)


def _replaced(a: "FreezeAudit", i: "ParamInfo", now) -> None:
    if i.kind == "frozen":
        what = "removed" if not isinstance(now, torch.Tensor) else "replaced by a new tensor object"
        a.cands.add("FRZ502", E, "replaced", [i.name], lambda t, what=what: (
            f"frozen but {what} during the step{t.count} (`module.weight = nn.Parameter(...)` or a re-registered "
            f"tensor): the model now computes with an object the audit's caller never froze, and the optimizer "
            f"still holds the old one; update the tensor in place (`with torch.no_grad(): w.copy_(new)`)"))
    elif i.kind == "trainable" and a.opt_known and i.in_opt and isinstance(now, torch.Tensor) and now.requires_grad:
        a.cands.add("FRZ505", E, "replaced", [i.name], lambda t: (
            f"replaced by a new Parameter during the step{t.count}: the optimizer still holds the old object, so "
            f"the new one never updates; assign in place (`w.data.copy_(new)`) or rebuild the optimizer"))


def _frozen(a: "FreezeAudit", i: "ParamInfo", did_change: bool, step_ran: bool) -> None:
    pid = id(i.tensor)
    had_grad_at_step = pid in a.frozen_grad_at_step
    if had_grad_at_step:
        v = a.frozen_grad_at_step[pid]
        key: Optional[str] = "zero" if v == 0.0 else "stale"
    elif i.tensor.grad is not None:
        key = "after"
    else:
        key = None
    _frz501(a, i, key)
    if not did_change:
        return
    if not i.explicit and not had_grad_at_step:
        return  # not named by an explicit frozen=, changed without a gradient: an EMA/teacher update
    if i.in_opt and step_ran and had_grad_at_step:
        zero = a.frozen_grad_at_step[pid] == 0.0
        how = ("zero", "the optimizer still holds it and its grad was zero-filled (`zero_grad(set_to_none=False)`), "
               "so momentum / weight decay moved it") if zero else (
            "stale", "the optimizer still holds it and applied a stale gradient (a backward before the freeze)")
        fix = ("build the optimizer from `[p for p in model.parameters() if p.requires_grad]` and keep "
               "`zero_grad()`'s default set_to_none=True")
    elif i.in_opt and step_ran:
        how = ("optnograd", "the optimizer updated it without a gradient (a custom optimizer, or state from before the freeze)")
        fix = "build the optimizer from `[p for p in model.parameters() if p.requires_grad]`"
    else:
        how = ("outside", "it was written outside the optimizer during the step (an EMA copied the wrong way, a "
               "manual `p.data` update)")
        fix = ("do not write frozen tensors in the step; copy into the EMA model, not from it; if it is an EMA / "
               "mean teacher updated on purpose, pass `ignore=[...]` (or an explicit `frozen=`)")
    a.cands.add("FRZ502", E, how[0], [i.name], lambda t, how=how, fix=fix: (
        f"frozen but its bytes changed during the step{t.count}: {how[1]}; {fix}"))


def _frz501(a: "FreezeAudit", i: "ParamInfo", key: Optional[str]) -> None:
    if key == "zero":
        a.cands.add("FRZ501", E, key, [i.name], lambda t: (
            f"frozen but holds a zero-filled .grad when optimizer.step() runs{t.count} (zero_grad(set_to_none=False) "
            f"on an optimizer built before freezing): momentum and weight decay still move it; use "
            f"`optimizer.zero_grad()` (set_to_none=True) and build the optimizer from trainable parameters only"))
    elif key == "stale":
        a.cands.add("FRZ501", E, key, [i.name], lambda t: (
            f"frozen but holds a non-zero .grad when optimizer.step() runs{t.count} (a stale gradient from a "
            f"backward before the freeze): the optimizer applies it; call `optimizer.zero_grad()` right after "
            f"freezing (or set `p.grad = None`)"))
    elif key == "after":
        a.cands.add("FRZ501", E, key, [i.name], lambda t: (
            f"frozen but still holds a .grad after the step{t.count}: zero_grad(set_to_none=False) keeps zero "
            f"tensors alive that momentum and weight decay act on; call `optimizer.zero_grad()` (set_to_none=True) "
            f"or set `p.grad = None`"))


def _unchanged_reason(a: "FreezeAudit", i: "ParamInfo", step_hooked: bool, step_ran: bool) -> Optional[str]:
    pid = id(i.tensor)
    if step_hooked and not step_ran:
        return ("optimizer.step() did not run during the step (GradScaler.step() skips it when the gradients hold "
                "inf/NaN; gradient accumulation steps only every N batches); check the scaler and the loss")
    ev = a.grad_events.get(pid)
    if step_ran and pid not in a.grad_at_step and ev is not None and ev > a.last_step_event:
        return "its gradient arrived after optimizer.step() ran; call loss.backward() before optimizer.step()"
    if any(g.get("lr", None) == 0 for g in i.groups):
        return "its param group has lr=0; to freeze it, use requires_grad_(False) and leave it out of the optimizer"
    v = a.grad_at_step.get(pid)
    if v is not None and (v != v or v in (float("inf"), float("-inf"))):
        return "its gradient held inf/NaN"
    if v == 0.0:
        if pid in a.lora_zero_start:
            return None  # LoRA: lora_B starts at zero, so lora_A's first gradient is zero by design
        return ("its gradient was all zeros: the loss does not depend on it at these values (a zero-initialised "
                "layer after it, such as LoRA's lora_B or a zero-init gate; dead ReLUs; an unused output)")
    if v is not None and v > 0:
        return (f"its update rounded away (gradient norm {v:.1e}: too small to move any element at this precision; "
                f"a bias right before BatchNorm gets almost no gradient)")
    return "the optimizer left it unchanged; check the optimizer's update rule and learning rate"


def _buffer_severity(a: "FreezeAudit", names, mod: nn.Module) -> Optional[Severity]:
    if a.sel.ignored(names):
        return None
    kinds = {a.sel.classify(n).kind for n in names}
    if "frozen" in kinds:
        return E
    if "trainable" in kinds or a.frozen is not None:
        return None  # an explicit frozen= names what must stay fixed
    own = [p for p in mod._parameters.values() if p is not None]
    if own and not any(p.requires_grad for p in own):
        # frozen=None: a BatchNorm whose affine parameters are frozen must not drift either.
        return E if isinstance(mod, nn.modules.batchnorm._BatchNorm) else W
    return None


def _buffers(a: "FreezeAudit", changed_buffers) -> None:
    groups: Dict[Tuple[Severity, bool], Dict[str, List[str]]] = {}
    for e in changed_buffers:
        mod, attr, mname = e.owners[0]
        sev = _buffer_severity(a, e.names, mod)
        if sev is None:
            continue
        is_bn = isinstance(mod, nn.modules.batchnorm._BatchNorm)
        groups.setdefault((sev, is_bn), {}).setdefault(mname, []).append(attr)
    for (sev, is_bn), mods in sorted(groups.items(), key=lambda kv: (kv[0][0].value, kv[0][1])):
        attrs = list(dict.fromkeys(x for v in mods.values() for x in v))  # registration order
        listed = ", ".join(attrs)
        if is_bn:
            def msg(obj, group, listed=listed):
                where = f" of {len(group)} frozen BatchNorm modules ({', '.join(group[:3])}, ...)" if group else " of a frozen module"
                call = "model.<frozen part>" if group else mod_ref(obj)
                return (f"BatchNorm statistics ({listed}){where} changed during the step: requires_grad_(False) "
                        f"does not stop BatchNorm from tracking statistics in train mode; call `{call}.eval()` after "
                        f"every `model.train()` (or override train())")
        else:
            def msg(obj, group, listed=listed):
                where = f" of {len(group)} frozen modules ({', '.join(group[:3])}, ...)" if group else " of a frozen module"
                return (f"buffers ({listed}){where} changed during the step; keep the frozen module in eval mode, "
                        f"or do not write its buffers")
        a.pre.extend(grouped_modules("FRZ503", sev, list(mods), msg))


def emit(a: "FreezeAudit") -> List[Finding]:
    # FRZ502 through the optimizer names the root cause: drop FRZ501/FRZ508 for those parameters.
    moved = a.cands.names("FRZ502", ("zero", "stale", "optnograd"))
    if moved:
        a.cands.drop("FRZ501", moved)
        a.cands.drop("FRZ508", moved)
    return a.cands.emit()


__all__ = ["emit", "run", "run_after_failed_step"]
