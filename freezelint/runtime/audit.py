"""FreezeAudit / audit_step: step the real model once and check the freeze, bit for bit.

Sequence of one audit:

1. *Start* (``__enter__``): name every parameter and buffer as the user knows
   it, resolve the selectors, run the checks that need no step (FRZ504, FRZ505,
   FRZ506 for `trainable=` names, FRZ508, FRZ509 when nothing requires grad,
   FRZ510, FRZ511, FRZ512), snapshot for ``restore``, fingerprint every parameter
   and buffer that the snapshot did not copy (see ``fingerprint.py``: no clone;
   copied dense CPU tensors are compared with their copy instead), and install hooks: a step
   pre-hook on each optimizer, a post-accumulate-grad hook on each parameter that
   requires grad, a forward pre-hook on the model.
2. *The step* runs (user code).
3. *Finish* (``__exit__``): remove every hook (always), fingerprint again (and
   compare the copied tensors with their copies, bit for bit), run the
   checks that need the step (FRZ501, FRZ502, FRZ503, FRZ506, FRZ507, FRZ509),
   then restore when asked (always, even when the step raised or a check failed).

Optimizers: a ``torch.optim.Optimizer`` (or anything with
``register_step_pre_hook``) is hooked through that API. Any other object with a
callable ``step`` gets ``step`` wrapped on the instance for the audit and put back
afterwards; when it has no ``param_groups`` (a list of dicts with ``"params"``),
the checks that need to know what it holds (FRZ505, FRZ506, FRZ507, FRZ508) are
skipped. ``optimizer=None`` audits a step that updates parameters itself.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import torch
from torch import nn

from freezelint.findings import Finding, Severity
from freezelint.runtime.codes import RUNTIME_INFO
from freezelint.runtime.fingerprint import Fingerprinter, default_chunk_bytes
from freezelint.runtime.selectors import ModelNames, Selectors, collapse, is_ddp, prefixes
from freezelint.runtime.state import Snapshot, bits_equal

E, W = Severity.ERROR, Severity.WARNING
MsgFn = Callable[[str, int], str]


class FreezeAuditError(AssertionError):
    """Raised by ``Report.raise_for_findings()`` and by ``FreezeAudit(strict=True)``."""

    def __init__(self, report: "Report"):
        self.report = report
        self.findings = report.findings
        super().__init__("freeze audit failed:\n" + report.render("text").rstrip())


# --------------------------------------------------------------------------- report
@dataclass(frozen=True)
class SummaryRow:
    name: str
    type: str
    trainable: int
    frozen: int
    trainable_bytes: int
    frozen_bytes: int


def _count(n: int) -> str:
    for unit, div in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


class Report:
    """What one audit found: ``findings``, ``ok``, ``summary()``, ``raise_for_findings()``."""

    def __init__(self, findings: Sequence[Finding], rows: Sequence[SummaryRow], unrestored: Sequence[str] = ()):
        self.findings: List[Finding] = sorted(findings, key=lambda f: (f.code, f.obj or "", f.message))
        self.rows: List[SummaryRow] = list(rows)
        self.unrestored: List[str] = list(unrestored)

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> List[str]:
        """Sorted distinct codes, handy in tests: ``assert report.codes == ["FRZ502"]``."""
        return sorted({f.code for f in self.findings})

    def by_code(self, code: str) -> List[Finding]:
        return [f for f in self.findings if f.code == code]

    def raise_for_findings(self, include_warnings: bool = False) -> None:
        if self.errors or (include_warnings and self.findings):
            raise FreezeAuditError(self)

    def render(self, fmt: str = "text", color: bool = False) -> str:
        from freezelint.report import render

        return render(self.findings, fmt, color=color)

    def summary(self) -> str:
        """Per top-level module: trainable / frozen parameter counts and sizes."""
        head = ("", "Name", "Type", "Trainable", "Frozen", "Trainable size", "Frozen size")
        body = [
            (str(i), r.name, r.type, _count(r.trainable), _count(r.frozen), _size(r.trainable_bytes), _size(r.frozen_bytes))
            for i, r in enumerate(self.rows)
        ]
        widths = [max(len(row[c]) for row in [head] + body) for c in range(len(head))]
        fmt = lambda row: " | ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()  # noqa: E731
        lines = [fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in body]
        t = sum(r.trainable for r in self.rows)
        fz = sum(r.frozen for r in self.rows)
        tb = sum(r.trainable_bytes for r in self.rows)
        fb = sum(r.frozen_bytes for r in self.rows)
        pct = 100.0 * t / (t + fz) if t + fz else 0.0
        lines.append(
            f"trainable params: {t:,} || frozen params: {fz:,} || all params: {t + fz:,} || "
            f"trainable%: {pct:.2f} || trainable size: {_size(tb)} || frozen size: {_size(fb)}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        from freezelint.report.text import summary

        return self.render("text") + self.summary() + "\n" + summary(self.findings)

    def __repr__(self) -> str:
        return f"Report(ok={self.ok}, codes={self.codes}, findings={len(self.findings)})"


# --------------------------------------------------------------------------- helpers
_MISSING = object()


def _norms(tensors: Sequence[torch.Tensor]) -> List[Optional[float]]:
    """L2 norms as floats (None for sparse tensors), one host transfer per device."""
    out: List[Optional[float]] = [None] * len(tensors)
    by_dev: Dict[torch.device, List[int]] = {}
    for i, t in enumerate(tensors):
        if t.layout == torch.strided:
            by_dev.setdefault(t.device, []).append(i)
        elif t.layout == torch.sparse_coo:
            # nn.Embedding(sparse=True) grads. Without this a sparse grad that
            # zero_grad(set_to_none=False) emptied read as None, i.e. "non-zero",
            # and FRZ501 blamed a stale gradient instead of the zero-filled one.
            with torch.no_grad():
                out[i] = float(torch.linalg.vector_norm(t.coalesce()._values().float()))
    with torch.no_grad():
        for dev, idx in by_dev.items():
            ts = [tensors[i] for i in idx]
            try:
                res = torch._foreach_norm(ts)
            except Exception:
                res = [torch.linalg.vector_norm(t.float()) for t in ts]
            vals = torch.stack([r.float() for r in res]).tolist()
            for i, v in zip(idx, vals):
                out[i] = v
    return out


def _as_selectors(x: Any, what: str) -> Optional[List[str]]:
    if x is None:
        return None
    if isinstance(x, str):
        return [x]
    if isinstance(x, (list, tuple, set, frozenset)) and all(isinstance(s, str) for s in x):
        return list(x)
    raise TypeError(f"{what}= takes a list of dotted names or globs, got {type(x).__name__}")


def _mod_ref(name: str) -> str:
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


@dataclass
class _P:
    """Per unique parameter: what the audit knows about it."""

    tensor: torch.Tensor
    name: str
    names: List[str]
    start_req: bool
    kind: str  # "frozen" | "trainable" | "conflict"
    explicit: bool
    selector: Optional[str]
    in_opt: bool
    groups: List[dict]
    attr_reason: Optional[Tuple[str, str]] = None  # (reason, module name) for FRZ504


# --------------------------------------------------------------------------- audit
class FreezeAudit:
    """Context manager auditing the training step run inside it.

    ``frozen``: selectors naming what must stay frozen (None: what has
    ``requires_grad=False`` at the start). ``trainable``: selectors naming what
    must train (default: everything not frozen that requires grad).
    ``strict=True`` makes ``__exit__`` raise ``FreezeAuditError`` on errors.
    ``restore=True`` (or ``"all"``) puts everything back after the step; see
    ``freezelint.runtime.state`` for what it copies. ``chunk_bytes`` bounds the
    fingerprint's working memory.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Any = None,
        frozen: Optional[Sequence[str]] = None,
        trainable: Optional[Sequence[str]] = None,
        *,
        strict: bool = False,
        restore: Union[bool, str] = False,
        chunk_bytes: Optional[int] = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"FreezeAudit needs the model as a torch.nn.Module, got {type(model).__module__}.{type(model).__qualname__}"
            )
        if restore not in (True, False, "all"):
            raise ValueError("restore= takes True, False or 'all'")
        self.model = model
        if optimizer is None:
            self.optimizers: List[Any] = []
        elif isinstance(optimizer, (list, tuple)):
            self.optimizers = list(optimizer)
        else:
            self.optimizers = [optimizer]
        for opt in self.optimizers:
            if not callable(getattr(opt, "register_step_pre_hook", None)) and not callable(getattr(opt, "step", None)):
                raise TypeError(f"optimizer {type(opt).__qualname__} has no step() method")
        self.frozen = _as_selectors(frozen, "frozen")
        self.trainable = _as_selectors(trainable, "trainable")
        self.strict = strict
        self.restore = restore
        self.chunk_bytes = chunk_bytes
        self.report: Optional[Report] = None
        self._active = False

    # ---------------------------------------------------------------- start
    def __enter__(self) -> "FreezeAudit":
        if self._active:
            raise RuntimeError("this FreezeAudit is already running")
        self._active = True
        self._handles: List[Any] = []
        self._restore_step: List[Tuple[Any, Any]] = []
        self._snapshot: Optional[Snapshot] = None
        try:
            self._start()
        except BaseException:
            self._remove_hooks()
            self._active = False
            raise
        return self

    def _opt_groups(self) -> Tuple[bool, Dict[int, List[dict]]]:
        known = bool(self.optimizers)
        held: Dict[int, List[dict]] = {}
        for opt in self.optimizers:
            groups = getattr(opt, "param_groups", None)
            if not isinstance(groups, list) or not all(isinstance(g, dict) and "params" in g for g in groups):
                known = False
                continue
            for g in groups:
                for p in g["params"]:
                    held.setdefault(id(p), []).append(g)
        return known, held

    def _start(self) -> None:
        model = self.model
        self.names = ModelNames(model)
        self.sel = Selectors(model, self.frozen, self.trainable)
        self.opt_known, held = self._opt_groups()
        self.modules_by_name: Dict[str, nn.Module] = {}
        for n, m in self.names.modules:
            self.modules_by_name.setdefault(n, m)
        self.root_training = model.training
        self._pre: List[Finding] = []
        self._unrestored: List[str] = []
        self._cands: Dict[Tuple[str, Severity, str], Tuple[List[str], MsgFn]] = {}

        # Classify every unique parameter.
        self.ps: List[_P] = []
        for e in self.names.params:
            p = e.tensor
            req = bool(p.requires_grad)
            kinds, sels = [], []
            for n in e.names:
                c = self.sel.classify(n)
                kinds.append(c.kind or ("trainable" if req else "frozen"))
                sels.append(c.selector)
            explicit = any(s is not None for s in sels)
            kind = kinds[0] if len(set(kinds)) == 1 else "conflict"
            selector = next((s for s, k in zip(sels, kinds) if s is not None and k == kind), None)
            if kind == "conflict":
                selector = next((s for s in sels if s is not None), None)
            info = _P(p, e.name, list(e.names), req, kind, explicit, selector, id(p) in held, held.get(id(p), []))
            reason = self._attr_reason(e.names)
            if reason is not None and self.frozen is None and kind == "trainable" and req:
                # `frozen=None`: `module.requires_grad = False` declares the intent to freeze.
                info.kind, info.explicit, info.attr_reason = "frozen", True, reason
            elif reason is not None:
                info.attr_reason = reason
            self.ps.append(info)
        self.universe = [i.name for i in self.ps]
        self.by_id = {id(i.tensor): i for i in self.ps}

        self._pre_checks()

        # Restore snapshot (before anything else can change).
        if self.restore:
            copy_ids = {id(i.tensor) for i in self.ps if self.restore == "all" or i.in_opt or i.start_req}
            self._snapshot = Snapshot(
                self.names.unique_modules,
                [i.tensor for i in self.ps],
                [b.tensor for b in self.names.buffers],
                self.optimizers,
                copy_ids,
            )

        # Change detection. What the restore snapshot copied (dense CPU tensors) is
        # compared bit for bit with its copy after the step; everything else is
        # fingerprinted now and again after the step (see fingerprint.py: no clone).
        tensors = [i.tensor for i in self.ps] + [b.tensor for b in self.names.buffers]
        copies = self._snapshot.comparable_copies() if self._snapshot is not None else {}
        self._copies: List[Optional[torch.Tensor]] = [copies.get(id(t)) for t in tensors]
        self._fp_idx = [k for k, c in enumerate(self._copies) if c is None]
        fp_tensors = [tensors[k] for k in self._fp_idx]
        total = sum(t.numel() * t.element_size() for t in fp_tensors)
        self._fp = Fingerprinter(self.chunk_bytes or default_chunk_bytes(total))
        self._fp_before = self._fp.fingerprint_many(fp_tensors)

        # Hooks.
        self._step_calls = 0
        self._event = 0
        self._last_step_event = -1
        self._first_step_event: Optional[int] = None
        self._grad_events: Dict[int, int] = {}
        self._grad_at_step: Dict[int, Optional[float]] = {}  # trainable: grad norm at step
        self._frozen_grad_at_step: Dict[int, Optional[float]] = {}
        self._forward_modes: List[Tuple[bool, bool]] = []
        self._frozen_watch = [i for i in self.ps if i.kind == "frozen" and not i.start_req]
        for opt in self.optimizers:
            self._hook_optimizer(opt)
        for i in self.ps:
            if i.tensor.requires_grad and i.tensor.is_leaf:
                self._handles.append(i.tensor.register_post_accumulate_grad_hook(self._make_grad_hook(id(i.tensor))))
        self._handles.append(model.register_forward_pre_hook(self._forward_hook))

    def _attr_reason(self, names: Sequence[str]) -> Optional[Tuple[str, str]]:
        """The `module.requires_grad = False` mistake on a module above one of `names`."""
        for n in names:
            for pre in [""] + prefixes(n)[:-1]:
                m = self.modules_by_name.get(pre)
                if m is None:
                    continue
                d = m.__dict__
                if "requires_grad_" in d:
                    return ("method", pre)
                if "requires_grad" in d and not d["requires_grad"]:
                    return ("attr", pre)
        return None

    def _eval_module(self, info: _P) -> Optional[str]:
        """The outermost module above `info` in eval mode while the model trains."""
        if not self.root_training:
            return None
        for pre in prefixes(info.name)[:-1]:
            m = self.modules_by_name.get(pre)
            if m is not None and not m.training:
                return pre
        return None

    def _hook_optimizer(self, opt: Any) -> None:
        fn = lambda *a, **k: self._step_pre_hook(opt)  # noqa: E731
        if callable(getattr(opt, "register_step_pre_hook", None)):
            self._handles.append(opt.register_step_pre_hook(fn))
            return
        previous = opt.__dict__.get("step", _MISSING)
        inner = opt.step

        def step(*args, **kwargs):
            self._step_pre_hook(opt)
            return inner(*args, **kwargs)

        opt.step = step
        self._restore_step.append((opt, previous))

    def _make_grad_hook(self, pid: int):
        def hook(_p):
            self._event += 1
            self._grad_events[pid] = self._event

        return hook

    def _forward_hook(self, _mod, _args):
        self._forward_modes.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))

    def _step_pre_hook(self, opt: Any) -> None:
        self._step_calls += 1
        self._event += 1
        self._last_step_event = self._event
        if self._first_step_event is None:
            self._first_step_event = self._event
        # Frozen parameters holding a grad at step time (FRZ501), any optimizer.
        fz = [i for i in self._frozen_watch if i.tensor.grad is not None]
        for i, v in zip(fz, _norms([i.tensor.grad for i in fz])):
            self._frozen_grad_at_step[id(i.tensor)] = v
        # Trainable parameters of this optimizer with a grad (FRZ506/FRZ507 causes).
        groups = getattr(opt, "param_groups", None) or []
        tr = []
        for g in groups:
            for p in g.get("params", []):
                i = self.by_id.get(id(p))
                if i is not None and i.kind == "trainable" and p.grad is not None:
                    tr.append(i)
        for i, v in zip(tr, _norms([i.tensor.grad for i in tr])):
            self._grad_at_step[id(i.tensor)] = v

    def _remove_hooks(self) -> None:
        for h in getattr(self, "_handles", []):
            try:
                h.remove()
            except Exception:
                pass
        self._handles = []
        for opt, previous in getattr(self, "_restore_step", []):
            if previous is _MISSING:
                opt.__dict__.pop("step", None)
            else:
                opt.step = previous
        self._restore_step = []

    # ---------------------------------------------------------------- candidates
    def _cand(self, code: str, sev: Severity, key: str, names: Iterable[str], msg: MsgFn) -> None:
        names = list(names)
        if not names:
            return
        k = (code, sev, key)
        if k in self._cands:
            self._cands[k][0].extend(names)
        else:
            self._cands[k] = (names, msg)

    def _finding(self, code: str, sev: Severity, obj: Optional[str], message: str) -> Finding:
        info = RUNTIME_INFO[code]
        return Finding(code=code, name=info.name, message=message, severity=sev, path="", source="runtime", obj=obj)

    @staticmethod
    def _n(n: int) -> str:
        return "" if n == 1 else f" ({n} parameters)"

    # ---------------------------------------------------------------- checks before the step
    def _pre_checks(self) -> None:
        ps = self.ps
        # FRZ510: selectors that name nothing.
        everything = list(self.names.module_names())
        for e in self.names.params + self.names.buffers:
            everything.extend(e.names)
        for kind, raw in self.sel.unmatched(everything):
            from difflib import get_close_matches

            close = get_close_matches(raw, everything, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self._pre.append(
                self._finding(
                    "FRZ510",
                    E,
                    raw,
                    f"`{kind}=` selector {raw!r} matches no parameter, buffer or module; names are "
                    f"dotted and without DDP's `module.` or torch.compile's `_orig_mod.` prefixes{hint}",
                )
            )
        # FRZ512: tied parameters split between frozen and trainable.
        for i in ps:
            if i.kind == "conflict":
                others = ", ".join(f"`{n}`" for n in i.names[1:])
                self._pre.append(
                    self._finding(
                        "FRZ512",
                        E,
                        i.name,
                        f"is the same Parameter as {others} (tied); the selectors freeze one name and train "
                        f"the other, but requires_grad belongs to the tensor: freeze all its names, or untie "
                        f"it (`<module>.weight = nn.Parameter(<tied>.weight.detach().clone())`)",
                    )
                )
        # FRZ504: declared frozen, still requires grad.
        for i in ps:
            if i.kind != "frozen" or not i.explicit or not i.start_req:
                continue
            if i.attr_reason is not None:
                why, m = i.attr_reason
                if why == "attr":
                    self._cand(
                        "FRZ504", E, f"attr:{m}", [i.name],
                        lambda o, n, m=m: f"declared frozen but requires_grad=True{self._n(n)}: "
                        f"`{_mod_ref(m)}.requires_grad = False` set a plain attribute; call `{_mod_ref(m)}.requires_grad_(False)`",
                    )
                else:
                    self._cand(
                        "FRZ504", E, f"method:{m}", [i.name],
                        lambda o, n, m=m: f"declared frozen but requires_grad=True{self._n(n)}: "
                        f"`{_mod_ref(m)}.requires_grad_` was overwritten by an attribute, so nothing was frozen; "
                        f"remove the assignment and call `{_mod_ref(m)}.requires_grad_(False)`",
                    )
                continue
            em = self._eval_module(i)
            if em is not None:
                self._cand(
                    "FRZ504", E, f"eval:{em}", [i.name],
                    lambda o, n, m=em: f"declared frozen but requires_grad=True{self._n(n)}: `{_mod_ref(m)}` is in eval mode, "
                    f"and eval() does not freeze parameters (it only switches dropout/BatchNorm); "
                    f"call `{_mod_ref(m)}.requires_grad_(False)`",
                )
                continue
            self._cand(
                "FRZ504", E, f"sel:{i.selector}", [i.name],
                lambda o, n, s=i.selector: f"named by `frozen=[{s!r}]` but requires_grad=True{self._n(n)}; "
                f"call `{_mod_ref(o)}.requires_grad_(False)` before building the optimizer",
            )
        # FRZ505: requires grad, in no optimizer.
        if self.opt_known:
            self._cand(
                "FRZ505", E, "", [i.name for i in ps if i.kind == "trainable" and i.start_req and not i.in_opt],
                lambda o, n: f"requires grad but is in no optimizer param group{self._n(n)}: it gets gradients and "
                f"never updates; after unfreezing call `optimizer.add_param_group({{'params': list({_mod_ref(o)}.parameters())}})`"
                if n > 1 else f"requires grad but is in no optimizer param group: it gets gradients and never "
                f"updates; add it with `optimizer.add_param_group({{'params': [{_mod_ref(o)}]}})` (or build the optimizer after unfreezing)",
            )
        # FRZ508: frozen parameters the optimizer holds.
        if self.opt_known:
            self._cand(
                "FRZ508", W, "", [i.name for i in ps if i.kind == "frozen" and not i.start_req and i.in_opt],
                lambda o, n: f"frozen but held by the optimizer{self._n(n)}: zero-filled or stale grads and weight "
                f"decay would move it and the optimizer keeps state for it; build the optimizer from "
                f"`[p for p in model.parameters() if p.requires_grad]`",
            )
        # FRZ506 (error): named by trainable= but frozen.
        self._cand(
            "FRZ506", E, "flag",
            [i.name for i in ps if i.kind == "trainable" and i.explicit and not i.start_req and self.trainable],
            lambda o, n: f"named by `trainable=` but requires_grad=False{self._n(n)}: it cannot get a gradient "
            f"(frozen along with the rest?); call `{_mod_ref(o)}.requires_grad_(True)` after freezing and before building the optimizer",
        )
        # FRZ509: nothing requires grad at all.
        self._nothing_trainable = bool(ps) and not any(i.start_req for i in ps)
        if self._nothing_trainable:
            self._pre.append(
                self._finding(
                    "FRZ509", E, None,
                    "no parameter requires grad, so no parameter can receive a gradient (a new head frozen "
                    "along with the backbone?); freeze before replacing the head, or call `head.requires_grad_(True)`",
                )
            )
        self._ddp_checks()

    def _ddp_checks(self) -> None:
        for mname, m in self.names.modules:
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
                self._pre.append(
                    self._finding(
                        "FRZ511", E, mname or None,
                        f"DDP registered {reg_count} parameters that require grad at construction, now "
                        f"{len(now)} do; change requires_grad before wrapping in DistributedDataParallel",
                    )
                )
                continue
            now_ids = {id(p) for p in now}
            frozen_after = [self.by_id[i].name for i in registered - now_ids if i in self.by_id]
            unfrozen_after = [self.by_id[i].name for i in now_ids - registered if i in self.by_id]
            self._cand(
                "FRZ511", E, f"frozen:{mname}", frozen_after,
                lambda o, n: f"frozen after DistributedDataParallel was built{self._n(n)}: DDP still waits for its "
                f"gradient (the reduction never finishes, or its bucket is never synchronised); freeze first, "
                f"then wrap: `{_mod_ref(o)}.requires_grad_(False); model = DistributedDataParallel(model)`",
            )
            self._cand(
                "FRZ511", E, f"unfrozen:{mname}", unfrozen_after,
                lambda o, n: f"unfrozen after DistributedDataParallel was built{self._n(n)}: DDP never synchronises "
                f"its gradient, so replicas diverge; unfreeze before wrapping, or wrap again",
            )

    # ---------------------------------------------------------------- finish
    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._remove_hooks()
            step_ok = exc is None
            try:
                if step_ok:
                    self._post_checks()
                else:
                    self._failed_step_checks()
            finally:
                unrestored: List[str] = []
                if self._snapshot is not None:
                    self._snapshot.restore()
                    unrestored = getattr(self, "_unrestored", [])
            self.report = Report(self._pre + self._emit_cands(), self._rows(), unrestored)
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
            self._fp_before = None
            self._copies = []
        if exc is not None:
            try:
                exc.freeze_audit_report = self.report  # type: ignore[attr-defined]
                if self.report is not None and self.report.findings and hasattr(exc, "add_note"):
                    exc.add_note("freezelint audit, findings before the step failed:\n" + self.report.render("text").rstrip())
            except Exception:
                pass
            return False
        if self.strict and self.report is not None:
            self.report.raise_for_findings()
        return False

    def _failed_step_checks(self) -> None:
        self._check_forward_disabled(only_if_disabled=True)

    def _check_forward_disabled(self, only_if_disabled: bool) -> bool:
        if self._nothing_trainable:
            return True
        modes = self._forward_modes
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
        self._pre.append(
            self._finding(
                "FRZ509", E, None,
                f"no parameter received a gradient during the step: {why}; keep torch.no_grad() around the "
                f"frozen part only (`with torch.no_grad(): feats = model.backbone(x)`) and run the trainable part with autograd on",
            )
        )
        return True

    def _post_checks(self) -> None:
        flags = self._changed_flags()
        np_ = len(self.ps)
        changed = {id(i.tensor) for i, c in zip(self.ps, flags[:np_]) if c}
        changed_buffers = [e for e, c in zip(self.names.buffers, flags[np_:]) if c]
        if self._snapshot is not None:
            self._unrestored = [
                i.name for i in self.ps if id(i.tensor) in changed and id(i.tensor) not in self._snapshot.copied_param_ids
            ]
        step_hooked = bool(self.optimizers)
        step_ran = self._step_calls > 0

        got_grad = set(self._grad_events) | set(self._grad_at_step) | set(self._frozen_grad_at_step)
        got_grad |= {id(i.tensor) for i in self.ps if i.tensor.grad is not None}

        # FRZ509: nothing got a gradient.
        no_grad_at_all = not got_grad and any(i.start_req for i in self.ps)
        if no_grad_at_all:
            self._check_forward_disabled(only_if_disabled=False)

        for i in self.ps:
            pid = id(i.tensor)
            if i.kind == "frozen" and not i.start_req:
                # FRZ501
                if pid in self._frozen_grad_at_step:
                    v = self._frozen_grad_at_step[pid]
                    key = "zero" if v == 0.0 else "stale"
                elif i.tensor.grad is not None:
                    key = "after"
                else:
                    key = None
                if key == "zero":
                    self._cand("FRZ501", E, key, [i.name], lambda o, n: (
                        f"frozen but holds a zero-filled .grad when optimizer.step() runs{self._n(n)} "
                        f"(zero_grad(set_to_none=False) on an optimizer built before freezing): momentum and weight "
                        f"decay still move it; use `optimizer.zero_grad()` (set_to_none=True) and build the optimizer "
                        f"from trainable parameters only"))
                elif key == "stale":
                    self._cand("FRZ501", E, key, [i.name], lambda o, n: (
                        f"frozen but holds a non-zero .grad when optimizer.step() runs{self._n(n)} (a stale gradient "
                        f"from a backward before the freeze): the optimizer applies it; call `optimizer.zero_grad()` "
                        f"right after freezing (or set `p.grad = None`)"))
                elif key == "after":
                    self._cand("FRZ501", E, key, [i.name], lambda o, n: (
                        f"frozen but still holds a .grad after the step{self._n(n)}: zero_grad(set_to_none=False) "
                        f"keeps zero tensors alive that momentum and weight decay act on; call `optimizer.zero_grad()` "
                        f"(set_to_none=True) or set `p.grad = None`"))
                # FRZ502
                if pid in changed:
                    if i.in_opt and step_ran and pid in self._frozen_grad_at_step:
                        v = self._frozen_grad_at_step[pid]
                        how = ("zero", "the optimizer still holds it and its grad was zero-filled, so momentum/weight decay moved it") if v == 0.0 else (
                            "stale", "the optimizer still holds it and applied a stale gradient")
                        fix = ("build the optimizer from `[p for p in model.parameters() if p.requires_grad]` "
                               "and keep `zero_grad()`'s default set_to_none=True")
                    elif i.in_opt and step_ran:
                        how = ("optnograd", "the optimizer updated it without a gradient (a custom optimizer, or "
                               "state from before the freeze)")
                        fix = "build the optimizer from `[p for p in model.parameters() if p.requires_grad]`"
                    else:
                        how = ("outside", "it was written outside the optimizer during the step (an EMA copied the "
                               "wrong way, a manual `p.data` update)")
                        fix = "do not write frozen tensors in the step; copy into the EMA model, not from it"
                    self._cand("FRZ502", E, how[0], [i.name], lambda o, n, how=how, fix=fix: (
                        f"frozen but its bytes changed during the step{self._n(n)}: {how[1]}; {fix}"))
            elif i.kind == "trainable" and i.start_req and i.in_opt:
                sev = E if (i.explicit and self.trainable) else W
                if pid not in got_grad:
                    if not no_grad_at_all:
                        self._cand("FRZ506", sev, "nograd", [i.name], lambda o, n: (
                            f"trainable and held by the optimizer but received no gradient{self._n(n)} (unused in "
                            f"forward, detached, or computed under torch.no_grad()); keep no_grad() around the frozen "
                            f"part only, or drop it from the model"))
                elif pid not in changed:
                    why = self._unchanged_reason(i, step_hooked, step_ran)
                    self._cand("FRZ507", sev, why, [i.name], lambda o, n, why=why: (
                        f"trainable, got a gradient, but did not change during the step{self._n(n)}: {why}"))

        # FRZ503: buffers of frozen modules.
        by_module: Dict[Tuple[str, Severity], List[str]] = {}
        for e in changed_buffers:
            mod, attr, mname = e.owners[0]
            sev = self._buffer_severity(e.names, mod)
            if sev is None:
                continue
            by_module.setdefault((mname, sev), []).append(attr)
        for (mname, sev), attrs in sorted(by_module.items()):
            mod = self.modules_by_name.get(mname)
            listed = ", ".join(attrs)
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                msg = (f"BatchNorm statistics ({listed}) of a frozen module changed during the step: "
                       f"requires_grad_(False) does not stop BatchNorm from tracking statistics in train mode; "
                       f"call `{_mod_ref(mname)}.eval()` after every `model.train()` (or override train())")
            else:
                msg = (f"buffers ({listed}) of a frozen module changed during the step; keep the frozen module "
                       f"in eval mode, or do not write its buffers")
            self._pre.append(self._finding("FRZ503", sev, mname or None, msg))

    def _changed_flags(self) -> List[bool]:
        """Per parameter then buffer: did its bits change during the step?"""
        tensors = [i.tensor for i in self.ps] + [b.tensor for b in self.names.buffers]
        flags = [False] * len(tensors)
        after = self._fp.fingerprint_many([tensors[k] for k in self._fp_idx])
        for k, a, b in zip(self._fp_idx, after, self._fp_before):
            flags[k] = a != b
        with torch.no_grad():
            for k, saved in enumerate(self._copies):
                if saved is not None:
                    flags[k] = not bits_equal(tensors[k], saved)
        return flags

    def _buffer_severity(self, names: Sequence[str], mod: nn.Module) -> Optional[Severity]:
        if self.sel.active:
            if any(self.sel.classify(n).kind == "frozen" for n in names):
                return E
            if any(self.sel.classify(n).kind == "trainable" for n in names):
                return None
        own = [p for p in mod._parameters.values() if p is not None]
        if own and not any(p.requires_grad for p in own):
            return W
        return None

    def _unchanged_reason(self, i: _P, step_hooked: bool, step_ran: bool) -> str:
        pid = id(i.tensor)
        if step_hooked and not step_ran:
            return ("optimizer.step() did not run during the step (GradScaler.step() skips it when the "
                    "gradients hold inf/NaN); check the scaler and the loss")
        ev = self._grad_events.get(pid)
        if step_ran and pid not in self._grad_at_step and ev is not None and ev > self._last_step_event:
            return "its gradient arrived after optimizer.step() ran; call loss.backward() before optimizer.step()"
        if any(g.get("lr", None) == 0 for g in i.groups):
            return "its param group has lr=0; to freeze it, use requires_grad_(False) and leave it out of the optimizer"
        v = self._grad_at_step.get(pid)
        if v is not None and v != v or v in (float("inf"), float("-inf")):
            return "its gradient held inf/NaN"
        if v == 0.0:
            return "its gradient was all zeros (dead units, or the loss does not depend on it)"
        if v is not None and v > 0:
            return (f"its update rounded away (gradient norm {v:.1e}: too small to move any element at this "
                    f"precision; a bias right before BatchNorm gets almost no gradient)")
        return "the optimizer left it unchanged; check the optimizer's update rule and learning rate"

    def _emit_cands(self) -> List[Finding]:
        out = []
        for (code, sev, _key), (names, msg) in self._cands.items():
            for obj, n in collapse(names, self.universe):
                out.append(self._finding(code, sev, obj, msg(obj, n)))
        return out

    def _rows(self) -> List[SummaryRow]:
        acc: Dict[str, List[int]] = {}
        order: List[str] = []
        for i in self.ps:
            top = i.name.split(".")[0]
            if top not in acc:
                acc[top] = [0, 0, 0, 0]
                order.append(top)
            n, b = i.tensor.numel(), i.tensor.numel() * i.tensor.element_size()
            if i.start_req:
                acc[top][0] += n
                acc[top][2] += b
            else:
                acc[top][1] += n
                acc[top][3] += b
        rows = []
        for top in order:
            m = self.modules_by_name.get(top)
            typ = type(m).__name__ if m is not None else "Parameter"
            t, f, tb, fb = acc[top]
            rows.append(SummaryRow(top, typ, t, f, tb, fb))
        return rows


def audit_step(
    model: nn.Module,
    optimizer: Any,
    step: Callable[[], Any],
    frozen: Optional[Sequence[str]] = None,
    trainable: Optional[Sequence[str]] = None,
    restore: Union[bool, str] = True,
    *,
    chunk_bytes: Optional[int] = None,
) -> Report:
    """Run ``step()`` (one full training step) under a ``FreezeAudit`` and return its Report.

    With ``restore=True`` (the default) the model, buffers, grads, optimizer state,
    train/eval modes and RNG states are put back afterwards, also when ``step``
    raises; the exception is then re-raised with ``.freeze_audit_report`` set.
    """
    if not callable(step):
        raise TypeError(f"step must be a zero-argument callable that runs one training step, got {type(step).__name__}")
    audit = FreezeAudit(model, optimizer, frozen=frozen, trainable=trainable, restore=restore, chunk_bytes=chunk_bytes)
    with audit:
        step()
    assert audit.report is not None
    return audit.report
