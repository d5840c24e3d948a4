"""Optimizers as the audit sees them: unwrapped, their param groups, a step hook.

Wrappers that do not run `Optimizer.__init__` (accelerate's `AcceleratedOptimizer`,
which the HF Trainer hands to callbacks; Lightning's `LightningOptimizer`) forward
`step()` to an inner optimizer: the audit hooks the inner one, so a step the
wrapper skips (gradient accumulation, a GradScaler finding inf) is seen as skipped.
A `torch.optim.Optimizer` is hooked with `register_step_pre_hook`; any other
object with a callable `step` gets `step` wrapped on the instance for the audit.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

_MISSING = object()
# Attributes under which wrappers keep the optimizer they forward to.
_INNER_ATTRS = ("optimizer", "_optimizer")


def _initialised_torch_optimizer(opt: Any) -> bool:
    return isinstance(opt, torch.optim.Optimizer) and "_optimizer_step_pre_hooks" in vars(opt)


def unwrap(opt: Any) -> Any:
    """The optimizer that really steps: follow `.optimizer` / `._optimizer` of wrappers."""
    seen = set()
    while id(opt) not in seen and not _initialised_torch_optimizer(opt):
        seen.add(id(opt))
        attrs = vars(opt) if hasattr(opt, "__dict__") else {}
        inner = next(
            (attrs[a] for a in _INNER_ATTRS if a in attrs and attrs[a] is not opt and callable(getattr(attrs[a], "step", None))),
            None,
        )
        if inner is None:
            break
        opt = inner
    return opt


def check_optimizer(opt: Any) -> None:
    if not callable(getattr(opt, "step", None)):
        raise TypeError(f"optimizer {type(opt).__qualname__} has no step() method")


def read_groups(optimizers: Sequence[Any]) -> Tuple[bool, Dict[int, List[dict]]]:
    """(all groups readable, id(param) -> the groups holding it)."""
    known = bool(optimizers)
    held: Dict[int, List[dict]] = {}
    for opt in optimizers:
        groups = getattr(opt, "param_groups", None)
        if not isinstance(groups, list) or not all(isinstance(g, dict) and "params" in g for g in groups):
            known = False
            continue
        for g in groups:
            for p in g["params"]:
                held.setdefault(id(p), []).append(g)
    return known, held


class StepHooks:
    """Calls `on_step(opt)` just before each optimizer's step runs; `remove()` undoes it."""

    def __init__(self, optimizers: Sequence[Any], on_step: Callable[[Any], None]):
        self._handles: List[Any] = []
        self._wrapped: List[Tuple[Any, Any]] = []
        for opt in optimizers:
            self._hook(opt, on_step)

    def _hook(self, opt: Any, on_step: Callable[[Any], None]) -> None:
        if _initialised_torch_optimizer(opt):
            self._handles.append(opt.register_step_pre_hook(lambda *a, **k: on_step(opt)))
            return
        previous = opt.__dict__.get("step", _MISSING)
        inner = opt.step

        def step(*args, **kwargs):
            on_step(opt)
            return inner(*args, **kwargs)

        opt.step = step
        self._wrapped.append((opt, previous))

    def remove(self) -> None:
        for h in self._handles:
            try:
                h.remove()
            except Exception:
                pass
        self._handles = []
        for opt, previous in self._wrapped:
            if previous is _MISSING:
                opt.__dict__.pop("step", None)
            else:
                opt.step = previous
        self._wrapped = []


def local(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (FSDP2), any other tensor as it is."""
    inner = getattr(t, "_local_tensor", None)
    return inner if isinstance(inner, torch.Tensor) else t


def grad_norms(tensors: Sequence[torch.Tensor]) -> List[Optional[float]]:
    """L2 norms as floats (of the local shard for DTensors), one host transfer per device."""
    out: List[Optional[float]] = [None] * len(tensors)
    by_dev: Dict[torch.device, List[int]] = {}
    with torch.no_grad():
        for i, t in enumerate(tensors):
            t = local(t)
            if t.layout == torch.strided and not t.is_quantized:
                by_dev.setdefault(t.device, []).append(i)
            elif t.layout == torch.sparse_coo:
                # nn.Embedding(sparse=True) grads: a zero-filled sparse grad must read as zero.
                out[i] = float(torch.linalg.vector_norm(t.coalesce()._values().float()))
        for dev, idx in by_dev.items():
            ts = [local(tensors[i]) for i in idx]
            try:
                res = torch._foreach_norm(ts)
            except Exception:
                res = [torch.linalg.vector_norm(t.float()) for t in ts]
            vals = torch.stack([r.float() for r in res]).tolist()
            for i, v in zip(idx, vals):
                out[i] = v
    return out


__all__ = ["StepHooks", "check_optimizer", "grad_norms", "local", "read_groups", "unwrap"]
