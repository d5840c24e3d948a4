"""FreezeAudit / audit_step: step the real model once and check the freeze.

Sequence of one audit:

1. *Start* (`__enter__`): name every parameter and buffer as the user knows it,
   resolve the selectors, classify each parameter (`params.py`), run the checks
   that need no step (`checks_pre.py`), snapshot for `restore` (`state.py`),
   record each tensor's state (`changes.py`: a fingerprint, or the restore copy)
   and install hooks: a step pre-hook on each optimizer (unwrapped, see
   `optimizers.py`), a post-accumulate-grad hook on each parameter that requires
   grad, a forward pre-hook on the model.
2. *The step* runs (user code).
3. *Finish* (`__exit__`): remove every hook (always), detect changes and
   replaced tensors, run the checks that need the step (`checks_post.py`), then
   restore when asked (always, even when the step raised or a check failed) and
   build the `AuditReport` (`report.py`, findings grouped by `collect.py`).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from freezelint.findings import Finding
from freezelint.runtime import checks_post, checks_pre
from freezelint.runtime.changes import ChangeTracker
from freezelint.runtime.collect import Candidates
from freezelint.runtime.optimizers import StepHooks, check_optimizer, grad_norms, read_groups, unwrap
from freezelint.runtime.params import ParamInfo, classify, lora_a_with_zero_b, module_table
from freezelint.runtime.report import AuditReport, check_fail_on
from freezelint.runtime.selectors import ModelNames, SelectorArg, Selectors, as_selector_list, resolve_objects
from freezelint.runtime.state import Snapshot
from freezelint.runtime.summary_rows import model_stats, optimizer_row

Restore = Union[bool, str]


class FreezeAudit:
    """Context manager auditing the training step run inside it.

    `frozen`: what must stay frozen (dotted names or globs, `nn.Module` or
    `nn.Parameter` objects; None: what has `requires_grad=False` at the start).
    `trainable`: what must train (default: everything not frozen that requires
    grad). `ignore`: what is not checked at all (an EMA / mean teacher updated in
    the step on purpose). `restore=True` (or `"all"`) puts everything back after
    the step (default False: the audited step is a real step). `fail_on="error"`
    (or `"warning"`) makes `__exit__` raise `FreezeAuditError`; None never raises.
    `chunk_bytes` bounds the fingerprint's working memory.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Any = None,
        *,
        frozen: SelectorArg = None,
        trainable: SelectorArg = None,
        ignore: SelectorArg = None,
        restore: Restore = False,
        fail_on: Optional[str] = None,
        chunk_bytes: Optional[int] = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"FreezeAudit needs the model as a torch.nn.Module, got {type(model).__module__}.{type(model).__qualname__}"
            )
        if restore not in (True, False, "all"):
            raise ValueError("restore= takes True, False or 'all'")
        self.model = model
        given = [] if optimizer is None else list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]
        for opt in given:
            check_optimizer(opt)
        self.optimizers: List[Any] = [unwrap(o) for o in given]
        self._frozen_arg = as_selector_list(frozen, "frozen")
        self._trainable_arg = as_selector_list(trainable, "trainable")
        self._ignore_arg = as_selector_list(ignore, "ignore")
        self.restore = restore
        self.fail_on = check_fail_on(fail_on)
        self.chunk_bytes = chunk_bytes
        self.report: Optional[AuditReport] = None
        self._active = False
        self._hooks: Optional[StepHooks] = None
        self._handles: List[Any] = []

    @property
    def steps_seen(self) -> int:
        """How many optimizer steps ran since the audit started (integrations close on the first)."""
        return getattr(self, "step_calls", 0)

    # ---------------------------------------------------------------- start
    def __enter__(self) -> "FreezeAudit":
        if self._active:
            raise RuntimeError("this FreezeAudit is already running")
        self._active = True
        self._handles = []
        self._snapshot: Optional[Snapshot] = None
        try:
            self._start()
        except BaseException:
            self._remove_hooks()
            if self._snapshot is not None:
                self._snapshot.restore()  # parameters may already compute on their clones
            self._active = False
            raise
        return self

    def _start(self) -> None:
        model = self.model
        self.names = ModelNames(model)
        self.frozen = resolve_objects(self._frozen_arg, self.names, "frozen")
        self.trainable = resolve_objects(self._trainable_arg, self.names, "trainable")
        self.ignore = resolve_objects(self._ignore_arg, self.names, "ignore")
        self.sel = Selectors(model, self.frozen, self.trainable, self.ignore)
        self.opt_known, held = read_groups(self.optimizers)
        self.modules_by_name = module_table(self.names)
        self.root_training = model.training
        self.pre: List[Finding] = []
        self.unrestored: List[str] = []
        self.ps: List[ParamInfo] = classify(self.names, self.sel, held, explicit_frozen=self.frozen is not None)
        self.universe = [i.name for i in self.ps]
        self.by_id = {id(i.tensor): i for i in self.ps}
        self.cands = Candidates(self.universe)
        self.lora_zero_start = lora_a_with_zero_b(self.ps)

        checks_pre.run(self)

        if self.restore:
            copy_ids = {id(i.tensor) for i in self.ps if self.restore == "all" or i.in_opt or i.start_req}
            self._snapshot = Snapshot(
                self.names.unique_modules, [i.tensor for i in self.ps], [b.tensor for b in self.names.buffers],
                self.optimizers, copy_ids,
            )
        self.changes = ChangeTracker(self.names, self._snapshot, self.chunk_bytes)

        # Hooks.
        self.step_calls = 0
        self._event = 0
        self.last_step_event = -1
        self.grad_events: Dict[int, int] = {}
        self.grad_at_step: Dict[int, Optional[float]] = {}  # trainable: grad norm at step
        self.frozen_grad_at_step: Dict[int, Optional[float]] = {}
        self.forward_modes: List[Tuple[bool, bool]] = []
        self._frozen_watch = [i for i in self.ps if i.kind == "frozen" and not i.start_req]
        self._hooks = StepHooks(self.optimizers, self._step_pre_hook)
        for i in self.ps:
            if i.tensor.requires_grad and i.tensor.is_leaf:
                self._handles.append(i.tensor.register_post_accumulate_grad_hook(self._make_grad_hook(id(i.tensor))))
        self._handles.append(model.register_forward_pre_hook(self._forward_hook))

    def _make_grad_hook(self, pid: int):
        def hook(_p):
            self._event += 1
            self.grad_events[pid] = self._event

        return hook

    def _forward_hook(self, _mod, _args):
        self.forward_modes.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))

    def _step_pre_hook(self, opt: Any) -> None:
        self.step_calls += 1
        self._event += 1
        self.last_step_event = self._event
        # Frozen parameters holding a grad at step time (FRZ501), any optimizer.
        fz = [i for i in self._frozen_watch if i.tensor.grad is not None]
        for i, v in zip(fz, grad_norms([i.tensor.grad for i in fz])):
            self.frozen_grad_at_step[id(i.tensor)] = v
        # Trainable parameters of this optimizer with a grad (FRZ506/FRZ507 causes).
        tr = []
        for g in getattr(opt, "param_groups", None) or []:
            for p in g.get("params", []):
                i = self.by_id.get(id(p))
                if i is not None and i.kind == "trainable" and p.grad is not None:
                    tr.append(i)
        for i, v in zip(tr, grad_norms([i.tensor.grad for i in tr])):
            self.grad_at_step[id(i.tensor)] = v

    def _remove_hooks(self) -> None:
        for h in self._handles:
            try:
                h.remove()
            except Exception:
                pass
        self._handles = []
        if self._hooks is not None:
            self._hooks.remove()
            self._hooks = None

    # ---------------------------------------------------------------- finish
    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._remove_hooks()
            try:
                if exc is None:
                    checks_post.run(self)
                else:
                    checks_post.run_after_failed_step(self)
            finally:
                unrestored: List[str] = []
                if self._snapshot is not None:
                    self._snapshot.restore()
                    unrestored = self.unrestored
            self.report = AuditReport(
                self.pre + checks_post.emit(self), model_stats(self), unrestored,
                optimizer_row=optimizer_row(self), unchecked=self.changes.unchecked,
            )
            if unrestored:
                warnings.warn(
                    "freezelint: the step wrote parameters outside the optimizer that restore=True does not "
                    f"copy, so they keep their new values: {', '.join(unrestored[:5])}"
                    + (" ..." if len(unrestored) > 5 else "")
                    + " (use restore='all')",
                    RuntimeWarning,
                    stacklevel=2,
                )
        finally:
            self._active = False
            self.changes = None  # type: ignore[assignment]
        if exc is not None:
            try:
                exc.freeze_audit_report = self.report  # type: ignore[attr-defined]
                if self.report is not None and self.report.findings and hasattr(exc, "add_note"):
                    exc.add_note("freezelint audit, findings before the step failed:\n" + self.report.render("text").rstrip())
            except Exception:
                pass
            return False
        if self.report is not None and self.fail_on is not None:
            self.report.raise_for_findings(self.fail_on)
        return False


def audit_step(
    model: nn.Module,
    optimizer: Any,
    step: Callable[[], Any],
    *,
    frozen: SelectorArg = None,
    trainable: SelectorArg = None,
    ignore: SelectorArg = None,
    restore: Restore = False,
    fail_on: Optional[str] = None,
    chunk_bytes: Optional[int] = None,
) -> AuditReport:
    """Run `step()` (one full training step) under a `FreezeAudit` and return its report.

    Takes the same keyword arguments as `FreezeAudit`, with the same defaults:
    `restore=False` keeps the step (a real training step); `restore=True` puts the
    model, buffers, grads, optimizer state, train/eval modes and RNG states back
    afterwards, also when `step` raises (the exception is then re-raised with
    `.freeze_audit_report` set). `fail_on="error"` raises `FreezeAuditError`
    after restoring.
    """
    if not callable(step):
        raise TypeError(f"step must be a zero-argument callable that runs one training step, got {type(step).__name__}")
    audit = FreezeAudit(
        model, optimizer, frozen=frozen, trainable=trainable, ignore=ignore,
        restore=restore, fail_on=fail_on, chunk_bytes=chunk_bytes,
    )
    with audit:
        step()
    assert audit.report is not None
    return audit.report


__all__ = ["FreezeAudit", "audit_step"]
