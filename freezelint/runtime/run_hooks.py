"""`freezelint run`'s step finder: torch's global optimizer step hooks open and close audits.

Every `Optimizer.step()` in the process calls `Runner._pre` before it runs and `_post` after.
Between audits that is a dictionary lookup and one read of each model parameter's
`requires_grad` flag (to see a late freeze or an unfreeze), nothing else.

An audit (a `FreezeAudit` of the existing auditor) opens at the step pre-hook of:

- the first step of each optimizer,
- the first step after the `requires_grad` flags of its model, or its param groups, changed,
- every N-th step of an optimizer (`steps_every=N`),

and closes after the step that follows (so it holds this step's update, as the gradients are
now, and the whole next iteration: zero_grad, forward, backward, update). A script that ends, or
a change of flags, closes it earlier.

The model of an optimizer is found in the frames running the step (`model`, `self` of a
LightningModule, a Trainer's `.model`): the outermost module holding its parameters. Every
optimizer seen in those frames or stepped so far that holds some of the model's parameters joins
the audit (a GAN's two optimizers), so a parameter another optimizer trains is not "left out".
"""

from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from freezelint.runtime.audit import FreezeAudit
from freezelint.runtime.optimizers import unwrap
from freezelint.runtime.report import AuditReport
from freezelint.runtime.run_intent import Intent, attribute, resolve


class StopRun(BaseException):
    """Raised from a step hook to end the script after the audited steps (`--stop`)."""


class RunAudit(FreezeAudit):
    """A FreezeAudit opened inside an optimizer's step pre-hook: its own hook on that optimizer may or
    may not be called for the same step (torch reads the hook dict lazily), so each step counts once."""

    serial: Callable[[], int] = staticmethod(lambda: 0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen_serial: Dict[int, int] = {}  # id(optimizer) -> the step serial its pre-hook already audited

    def _step_pre_hook(self, opt: Any) -> None:
        s = self.serial()
        if self._seen_serial.get(id(opt)) == s:
            return
        self._seen_serial[id(opt)] = s
        super()._step_pre_hook(opt)


@dataclass
class AuditRecord:
    """One audit of the run: why it opened, on which step, what it found and with which intent."""

    trigger: str
    model: str  # the model's class name
    optimizers: List[str]
    report: AuditReport
    intent: Intent
    findings: List[Any] = field(default_factory=list)  # the report's, with declarations named


class _Model:
    def __init__(self, model: nn.Module):
        self.ref = model
        self.params: List[torch.Tensor] = list(model.parameters())
        self.optimizers: List[Any] = []
        self.sig: Any = None
        self.window: Optional[RunAudit] = None
        self.primary: Optional[int] = None
        self.posts = 0
        self.intent: Optional[Intent] = None
        self.trigger = ""

    def signature(self) -> Tuple:
        groups = tuple((len(o.param_groups), sum(len(g["params"]) for g in o.param_groups)) for o in self.optimizers)
        return (tuple(p.requires_grad for p in self.params), groups)


def _walk_frames(start) -> List[Tuple[str, Any]]:
    """(name, value) of every local in the frames running the step, and of their objects' attributes."""
    out: List[Tuple[str, Any]] = []
    f = start
    while f is not None:
        try:
            local = dict(f.f_locals)
        except Exception:
            local = {}
        for k, v in local.items():
            out.append((k, v))
            if isinstance(v, (nn.Module, torch.Tensor, type)) or not hasattr(v, "__dict__"):
                continue
            try:
                attrs = vars(v)
            except TypeError:
                continue
            for a, w in list(attrs.items())[:200]:
                if isinstance(w, (nn.Module, torch.optim.Optimizer)):
                    out.append((a, w))
        f = f.f_back
    return out


def _loaded(path: str) -> bool:
    """The file runs in this process: the script itself, or a module it imported (another file of the
    project that the script never imports declares nothing about this run)."""
    if not path.endswith(".py") or path.startswith("<"):
        return True  # notebook cells, stdin
    a = os.path.abspath(path)
    main = sys.modules.get("__main__")
    files = {getattr(main, "__file__", None)} | {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    return a in {os.path.abspath(f) for f in files if isinstance(f, str)}


class Runner:
    """Installs the global step hooks; collects one `AuditRecord` per audit."""

    def __init__(
        self,
        declarations: Callable[[], Sequence[Any]] = lambda: (),
        user: Optional[Dict[str, Optional[List[str]]]] = None,
        steps_every: int = 0,
        stop: bool = False,
        max_audits: Optional[int] = None,
        on_done: Optional[Callable[["Runner"], None]] = None,
    ):
        self._declarations_fn = declarations
        self._declarations: Optional[List[Any]] = None
        self.user = user or {}
        self.steps_every = steps_every
        self.stop = stop
        self.max_audits = max_audits
        self.records: List[AuditRecord] = []
        self.notes: List[str] = []
        self.steps = 0
        self._serial = 0
        self._opts: Dict[int, Tuple[Any, Optional[_Model], int]] = {}  # id(opt) -> (weakref, model, steps)
        self._models: Dict[int, _Model] = {}
        self._handles: List[Any] = []
        self._stopping = False
        self.on_done = on_done  # called once, after the first audits closed (notebooks: print the report)
        self.active = True

    # ------------------------------------------------------------ install
    def install(self) -> "Runner":
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        self._handles = [register_optimizer_step_pre_hook(self._pre), register_optimizer_step_post_hook(self._post)]
        return self

    def uninstall(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def declarations(self) -> List[Any]:
        if self._declarations is None:
            try:
                decls = list(self._declarations_fn())
            except Exception as e:  # the static pass must never stop a training run
                decls = []
                self.notes.append(f"the static pass could not read the script's intent: {type(e).__name__}: {e}")
            self._declarations = [d for d in decls if _loaded(d.file)]
        return self._declarations

    # ------------------------------------------------------------ hooks
    def _pre(self, opt: Any, _args: Any, _kwargs: Any) -> None:
        if not self.active:
            return
        self._serial += 1
        self.steps += 1
        try:
            self._on_pre(opt)
        except StopRun:
            raise
        except Exception as e:  # a bug of ours must not end the user's training
            self.notes.append(f"internal error at a step (not audited): {type(e).__name__}: {e}")

    def _post(self, opt: Any, _args: Any, _kwargs: Any) -> None:
        if not self.active:
            return
        try:
            self._on_post(opt)
        except Exception as e:
            self.notes.append(f"internal error after a step: {type(e).__name__}: {e}")
        if self.on_done is not None and self._done():
            # Hooks are not removed here (torch is iterating their dict): they stay, inactive.
            self.active = False
            self.on_done(self)
        if self.stop and not self._stopping and self._done():
            self._stopping = True
            raise StopRun()

    def _done(self) -> bool:
        return bool(self.records) and not any(m.window is not None for m in self._models.values())

    def _on_pre(self, opt: Any) -> None:
        entry = self._opts.get(id(opt))
        if entry is None or entry[0]() is not opt:
            ms = self._model_for(opt, sys._getframe(2))
            self._opts[id(opt)] = (weakref.ref(opt), ms, 1)
            if ms is None:
                return
            if ms.window is not None and any(o is opt for o in ms.window.optimizers):
                return
            self._close(ms)
            if not any(o is opt for o in ms.optimizers):
                ms.optimizers.append(opt)
            self._open(ms, opt, f"first step of {type(opt).__name__}")
            return
        ref, ms, steps = entry
        steps += 1
        self._opts[id(opt)] = (ref, ms, steps)
        if ms is None:
            return
        if ms.signature() != ms.sig:
            self._close(ms)
            self._open(ms, opt, f"step {steps} of {type(opt).__name__}, the first after requires_grad or param groups changed")
        elif self.steps_every and steps % self.steps_every == 0 and ms.window is None:
            self._open(ms, opt, f"step {steps} of {type(opt).__name__} (every {self.steps_every})")

    def _on_post(self, opt: Any) -> None:
        entry = self._opts.get(id(opt))
        ms = entry[1] if entry is not None else None
        if ms is None or ms.window is None or ms.primary != id(opt):
            return
        ms.posts += 1
        if ms.posts >= 2:
            self._close(ms)

    # ------------------------------------------------------------ model and audits
    def _model_for(self, opt: Any, frame) -> Optional[_Model]:
        held = {id(p) for g in getattr(opt, "param_groups", []) for p in g.get("params", [])}
        if not held:
            self.notes.append(f"{type(opt).__name__} holds no parameters: not audited")
            return None
        found: Dict[int, nn.Module] = {}
        optimizers: Dict[int, Any] = {}
        bindings: Dict[str, List[nn.Module]] = {}
        for name, v in _walk_frames(frame):
            if isinstance(v, nn.Module):
                found.setdefault(id(v), v)
                lst = bindings.setdefault(name, [])
                if all(m is not v for m in lst):
                    lst.append(v)
            elif isinstance(v, torch.optim.Optimizer) or callable(getattr(v, "step", None)) and hasattr(v, "param_groups"):
                o = unwrap(v)
                if hasattr(o, "param_groups"):
                    optimizers.setdefault(id(o), o)
        best, best_key = None, None
        for m in found.values():
            try:
                ids = [id(p) for p in m.parameters()]
            except Exception:
                continue
            n = sum(1 for i in ids if i in held)
            if n == 0:
                continue
            key = (n, len(ids))
            if best_key is None or key > best_key:
                best, best_key = m, key
        if best is None:
            self.notes.append(f"found no nn.Module holding the parameters of {type(opt).__name__} in the frames running its step: not audited")
            return None
        ms = self._models.get(id(best))
        if ms is None or ms.ref is not best:
            ms = self._models[id(best)] = _Model(best)
        ms.bindings = bindings
        mine = {id(p) for p in ms.params}
        for o in list(optimizers.values()) + [e[0]() for e in self._opts.values() if e[0]() is not None]:
            if o is not opt and any(id(p) in mine for g in o.param_groups for p in g["params"]):
                if all(x is not o for x in ms.optimizers):
                    ms.optimizers.append(o)
        return ms

    def _open(self, ms: _Model, opt: Any, trigger: str) -> None:
        if self.max_audits is not None and len(self.records) >= self.max_audits:
            ms.sig = ms.signature()
            return
        if all(o is not opt for o in ms.optimizers):
            ms.optimizers.append(opt)
        model = ms.ref
        intent = resolve(model, self.declarations, getattr(ms, "bindings", {}), self.user, after_change="changed" in trigger)
        audit = RunAudit(
            model, list(ms.optimizers), frozen=intent.frozen, trainable=intent.trainable, ignore=intent.ignore, restore=False,
        )
        audit.serial = lambda: self._serial
        try:
            audit.__enter__()
        except Exception as e:
            self.notes.append(f"could not start the audit of {type(model).__name__} ({trigger}): {type(e).__name__}: {e}")
            ms.sig = ms.signature()
            return
        audit._step_pre_hook(opt)  # this step's gradients, as they are now
        ms.window, ms.primary, ms.posts, ms.intent, ms.trigger = audit, id(opt), 0, intent, trigger
        ms.sig = ms.signature()

    def _close(self, ms: _Model, exc: Optional[BaseException] = None) -> None:
        audit, ms.window = ms.window, None
        if audit is None:
            return
        audit.__exit__(type(exc) if exc else None, exc, None)
        if audit.report is None:
            return
        intent = ms.intent or Intent()
        self.records.append(AuditRecord(
            ms.trigger, type(ms.ref).__name__, [type(o).__name__ for o in audit.optimizers], audit.report, intent,
            attribute(audit.report.findings, intent),
        ))

    def finish(self, script_failed: bool = False) -> None:
        """Close every open audit (the script ended) and remove the hooks."""
        self.uninstall()
        for ms in list(self._models.values()):
            if ms.window is not None:
                try:
                    self._close(ms, RuntimeError("the script raised") if script_failed else None)
                except Exception as e:
                    self.notes.append(f"internal error closing an audit: {type(e).__name__}: {e}")


__all__ = ["AuditRecord", "RunAudit", "Runner", "StopRun"]
