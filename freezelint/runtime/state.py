"""Put a model and its optimizers back exactly as they were (`restore=True`).

What is copied, and what it costs (host memory; nothing extra on the GPU):

* parameters an optimizer holds, and parameters with `requires_grad=True`
  (what an optimizer step can write): one copy each, on the CPU;
  `restore="all"` copies every parameter;
* every buffer (BatchNorm statistics and the like: usually small);
* gradients that exist before the step (normally none after `zero_grad()`);
* the optimizers' state tensors (SGD momentum: 1x, Adam: 2x the parameters they
  hold) and their param groups;
* each module's train/eval flag and `_parameters` / `_buffers` tables, each
  parameter's `requires_grad`, and the CPU and CUDA RNG states (so the next real
  step draws the same dropout masks it would have drawn without the audit).

So a frozen-backbone fine-tune costs about (1 + optimizer state multiplier) x the
trainable bytes; a full fine-tune with Adam about 3x the parameter bytes of host
memory. CPU parameters and optimizer state tensors that own their storage are
not copied twice: the step runs on a clone and the untouched original comes back
(`p.data = original`; the same Parameter and state objects, the same storage).
Everything else is written back in place (`copy_`), so tensor identities held by
optimizers, DDP buckets or CUDA graphs survive either way. A parameter outside the copied
set that the step writes (an EMA update to a frozen weight) cannot be restored:
the audit detects it through its fingerprint and reports it in
`Report.unrestored` with a warning.

Objects the audit does not know (LR schedulers, GradScaler, EMA helpers, data
iterators) are not restored.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn


def _local(t: torch.Tensor) -> torch.Tensor:
    inner = getattr(t, "_local_tensor", None)  # DTensor (FSDP2): copy and write this rank's shard
    return inner if isinstance(inner, torch.Tensor) else t


def _copy_tensor(t: torch.Tensor) -> torch.Tensor:
    t = _local(t.detach())
    if t.device.type == "cpu":
        return t.clone()
    return t.to("cpu", copy=True)


def _copy_value(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return _copy_tensor(v)
    try:
        return copy.deepcopy(v)
    except Exception:  # an unpicklable object in optimizer state: keep the reference
        return v


def _put_back(obj: torch.Tensor, saved: torch.Tensor) -> torch.Tensor:
    """Write `saved` into `obj` in place when shapes allow, else return a fresh copy."""
    target = _local(obj)
    with torch.no_grad():
        if target.shape == saved.shape and target.dtype == saved.dtype:
            target.copy_(saved)
            return obj
    return saved.to(target.device)


_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(t: torch.Tensor) -> torch.Tensor:
    """`t`'s storage as integers of the same width (no copy): equality of bits, not values."""
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.view(_BITS[t.element_size()])


def bits_equal(t: torch.Tensor, saved: torch.Tensor) -> bool:
    """True when `t` holds exactly the bits of `saved` (-0.0 != 0.0; a NaN equals itself bit for bit)."""
    t = _local(t.detach())
    if t.shape != saved.shape or t.dtype != saved.dtype or t.device != saved.device:
        return False
    return bool(torch.equal(_bits(t), _bits(saved)))


def _private_storage(t: torch.Tensor, shared: set) -> bool:
    """A plain dense CPU tensor that is the only view of its whole storage (and no other
    audited tensor shares it): it can trade places with a clone without anyone noticing."""
    return (
        type(t) in (torch.Tensor, nn.Parameter) and t.device.type == "cpu" and t.layout == torch.strided
        and not t.is_quantized and t._base is None and t.storage_offset() == 0 and t.is_contiguous()
        and t.untyped_storage().nbytes() == t.numel() * t.element_size()
        and t.untyped_storage().data_ptr() not in shared
    )


def _shared_storages(tensors: Sequence[torch.Tensor]) -> set:
    seen: Dict[int, int] = {}
    for t in tensors:
        t = _local(t.detach())
        if t.device.type == "cpu" and t.layout == torch.strided and not t.is_quantized and t.numel():
            ptr = t.untyped_storage().data_ptr()
            seen[ptr] = seen.get(ptr, 0) + 1
    return {ptr for ptr, n in seen.items() if n > 1}


def _same_table(now: dict, saved: dict) -> bool:
    return now.keys() == saved.keys() and all(now[k] is v for k, v in saved.items())


class Snapshot:
    def __init__(
        self,
        modules: Sequence[nn.Module],
        params: Sequence[torch.Tensor],
        buffers: Sequence[torch.Tensor],
        optimizers: Sequence[Any],
        copy_param_ids: set,
    ):
        self.copied_param_ids = set(copy_param_ids)
        self.modules = [
            (m, m.training, dict(m._parameters), dict(m._buffers)) for m in modules
        ]
        # What the step can write is kept aside by *swapping*: a CPU parameter that owns
        # its storage computes the step on a clone (`p.data = clone`) while its original
        # storage stays untouched; restoring is `p.data = original` (no second copy),
        # and the untouched original is what the change check compares with. The same
        # for CPU optimizer state tensors. Anything else is copied out and back.
        with torch.no_grad():
            state_tensors = [
                v for opt in optimizers if isinstance(getattr(opt, "state", None), dict)
                for sd in opt.state.values() if isinstance(sd, dict) for v in sd.values() if isinstance(v, torch.Tensor)
            ]
            shared = _shared_storages(list(params) + state_tensors)
            self.params: List[Tuple[torch.Tensor, bool, Optional[torch.Tensor], bool, Optional[torch.Tensor], Optional[torch.Tensor]]] = []
            for p in params:
                data, swapped = None, False
                if id(p) in self.copied_param_ids:
                    if _private_storage(p.data, shared):
                        data, swapped = p.data, True
                        p.data = data.clone()
                    else:
                        data = _copy_tensor(p)
                g = p.grad
                self.params.append((p, p.requires_grad, data, swapped, g, None if g is None else _copy_tensor(g)))
            self.buffers = [(b, _copy_tensor(b)) for b in buffers]
            self.optimizers = []
            for opt in optimizers:
                groups = getattr(opt, "param_groups", None)
                saved_groups = None
                if isinstance(groups, list):
                    saved_groups = [
                        (g, {k: (v, list(v) if k == "params" else _copy_value(v)) for k, v in g.items()}, g.get("params"))
                        for g in groups
                    ]
                state = getattr(opt, "state", None)
                saved_state = None
                if isinstance(state, dict):
                    saved_state = [(key, sd, self._set_aside(sd, shared)) for key, sd in state.items()]
                self.optimizers.append((opt, groups, saved_groups, state, saved_state))
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = None
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self.cuda_rng = torch.cuda.get_rng_state_all()

    @staticmethod
    def _set_aside(sd: Any, shared: set) -> Any:
        if not isinstance(sd, dict):
            return _copy_value(sd)
        items = {}
        for k, v in sd.items():
            if isinstance(v, torch.Tensor) and _private_storage(v, shared):
                items[k] = ("swap", v)  # the optimizer steps a clone; v itself comes back untouched
                sd[k] = v.clone()
            else:
                items[k] = ("copy", v, _copy_value(v))
        return items

    def comparable_copies(self) -> Dict[int, torch.Tensor]:
        """id(tensor) -> its copy, for the copied parameters and buffers that can be compared
        with `bits_equal` in place (dense CPU tensors): the audit detects their changes
        against the copy instead of fingerprinting them before and after the step."""
        out: Dict[int, torch.Tensor] = {}
        pairs = [(p, data) for p, _, data, _, _, _ in self.params if data is not None] + list(self.buffers)
        for t, saved in pairs:
            if _local(t) is not t:
                continue  # a DTensor: fingerprinted per shard, combined across ranks
            if (
                t.layout == torch.strided and not t.is_quantized and t.device.type == "cpu"
                and saved.device == t.device and saved.shape == t.shape and saved.dtype == t.dtype
                and (t.is_complex() or t.element_size() in _BITS)
            ):
                out[id(t)] = saved
        return out

    def restore(self) -> None:
        # Module tables first (compared by identity: `==` on tensors is elementwise),
        # so a parameter or buffer the step replaced is the original object again.
        for m, training, ps, bs in self.modules:
            m.training = training
            if not _same_table(m._parameters, ps):
                m._parameters.clear()
                m._parameters.update(ps)
            if not _same_table(m._buffers, bs):
                m._buffers.clear()
                m._buffers.update(bs)
        for p, req, data, swapped, g_obj, g_saved in self.params:
            if swapped:
                with torch.no_grad():
                    p.data = data  # the original storage, never written during the step
            elif data is not None:
                with torch.no_grad():
                    if _local(p).shape == data.shape and _local(p).dtype == data.dtype:
                        _local(p).copy_(data)
                    else:  # the step replaced p.data: put the original values back
                        p.data = data.to(p.device)
            if p.requires_grad != req:
                p.requires_grad_(req)
            if g_obj is None:
                p.grad = None
            else:
                p.grad = _put_back(g_obj, g_saved)
        for b, saved in self.buffers:
            _put_back(b, saved)
        for opt, groups, saved_groups, state, saved_state in self.optimizers:
            if saved_groups is not None:
                groups[:] = [g for g, _, _ in saved_groups]
                for g, saved, params_list in saved_groups:
                    g.clear()
                    for k, (orig, v) in saved.items():
                        if k == "params" and isinstance(params_list, list):
                            params_list[:] = v
                            g[k] = params_list
                        elif isinstance(orig, torch.Tensor):
                            g[k] = _put_back(orig, v)
                        else:
                            g[k] = v
            if saved_state is not None:
                state.clear()
                for key, sd, items in saved_state:
                    if isinstance(sd, dict):
                        sd.clear()
                        for k, item in items.items():
                            if item[0] == "swap":
                                sd[k] = item[1]
                            elif isinstance(item[1], torch.Tensor):
                                sd[k] = _put_back(item[1], item[2])
                            else:
                                sd[k] = item[2]
                        state[key] = sd
                    else:
                        state[key] = items
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
