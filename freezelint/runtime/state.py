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
memory. Values are written back in place (`copy_`), so tensor identities held by
optimizers, DDP buckets or CUDA graphs survive. A parameter outside the copied
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
        self.params: List[Tuple[torch.Tensor, bool, Optional[torch.Tensor], Optional[torch.Tensor], Optional[torch.Tensor]]] = []
        for p in params:
            data = _copy_tensor(p) if id(p) in self.copied_param_ids else None
            g = p.grad
            self.params.append((p, p.requires_grad, data, g, None if g is None else _copy_tensor(g)))
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
                saved_state = [
                    (key, sd, {k: (v, _copy_value(v)) for k, v in sd.items()} if isinstance(sd, dict) else _copy_value(sd))
                    for key, sd in state.items()
                ]
            self.optimizers.append((opt, groups, saved_groups, state, saved_state))
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = None
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self.cuda_rng = torch.cuda.get_rng_state_all()

    def comparable_copies(self) -> Dict[int, torch.Tensor]:
        """id(tensor) -> its copy, for the copied parameters and buffers that can be compared
        with `bits_equal` in place (dense CPU tensors): the audit detects their changes
        against the copy instead of fingerprinting them before and after the step."""
        out: Dict[int, torch.Tensor] = {}
        pairs = [(p, data) for p, _, data, _, _ in self.params if data is not None] + list(self.buffers)
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
        for p, req, data, g_obj, g_saved in self.params:
            if data is not None:
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
                        for k, (obj, val) in items.items():
                            if isinstance(obj, torch.Tensor):
                                sd[k] = _put_back(obj, val)
                            else:
                                sd[k] = val
                        state[key] = sd
                    else:
                        state[key] = items
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
