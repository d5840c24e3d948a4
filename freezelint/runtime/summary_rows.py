"""The rows of `AuditReport.summary()`: per module, at a chosen depth.

Default depth (None): the children of the model, after skipping single-child
wrappers (a `PeftModel`'s `base_model.model`, DDP's `module`), and expanding a
child that holds 99% or more of the parameters (an HF `...ForCausalLM`'s
`transformer` / `model`), so PEFT and HF models show their parts, not one row.
An integer depth shows the modules that many levels below that root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from freezelint.runtime.report import OptimizerRow, SummaryRow

# The audit these checks read (audit.FreezeAudit): named, not imported, since audit.py imports this module.
FreezeAudit = Any


_DOMINANT = 0.99
_MAX_ROWS = 40


@dataclass(frozen=True)
class _Param:
    name: str
    numel: int
    nbytes: int
    trainable: bool
    in_opt: bool


class ModelStats:
    """What the summary needs, kept after the audit (no tensors)."""

    def __init__(self, params: List[_Param], modules: Dict[str, Tuple[str, str, int]]):
        self.params = params
        self.modules = modules  # name -> (type name, mode, number of children)
        self.root = self._root()

    def _root(self) -> str:
        root = ""
        while True:
            kids = self._children(root)
            direct = [p for p in self.params if p.name.rpartition(".")[0] == root]
            if len(kids) != 1 or direct:
                return root
            root = kids[0]

    def _children(self, name: str) -> List[str]:
        pre = name + "." if name else ""
        return [n for n in self.modules if n.startswith(pre) and n != name and "." not in n[len(pre):]]

    def _key(self, pname: str, depth: int) -> str:
        rel = pname[len(self.root) + 1:] if self.root else pname
        parts = rel.split(".")
        keep = min(depth, len(parts) - 1) or 1  # a parameter directly on the root is its own row
        head = ".".join(parts[:keep])
        return f"{self.root}.{head}" if self.root else head

    def _rows_for(self, keys: Dict[str, str]) -> List[SummaryRow]:
        acc: Dict[str, List[int]] = {}
        for p in self.params:
            k = keys[p.name]
            a = acc.setdefault(k, [0, 0, 0, 0, 0])
            a[0 if p.trainable else 1] += p.numel
            a[2 if p.trainable else 3] += p.nbytes
            a[4] += p.numel if p.in_opt else 0
        rows = []
        for k, (t, f, tb, fb, io) in acc.items():
            typ, mode, _ = self.modules.get(k, ("Parameter", "-", 0))
            rows.append(SummaryRow(k, typ, t, f, tb, fb, mode, io))
        return rows

    def rows(self, depth: Optional[int] = None) -> List[SummaryRow]:
        if depth is not None:
            if depth < 1:
                raise ValueError("depth= takes an integer >= 1 (or None for the default)")
            return self._rows_for({p.name: self._key(p.name, depth) for p in self.params})
        total = sum(p.numel for p in self.params) or 1
        keys = {p.name: self._key(p.name, 1) for p in self.params}
        while True:
            rows = self._rows_for(keys)
            big = [r for r in rows if r.trainable + r.frozen >= _DOMINANT * total and self.modules.get(r.name, ("", "", 0))[2]]
            if not big or len(self._children(big[0].name)) + len(rows) > _MAX_ROWS:
                return rows
            pre = big[0].name + "."
            for n, k in keys.items():
                if k == big[0].name and n.startswith(pre):
                    keys[n] = big[0].name + "." + n[len(pre):].split(".")[0]


def model_stats(a: "FreezeAudit") -> ModelStats:
    params = [
        _Param(i.name, i.tensor.numel(), i.tensor.numel() * i.tensor.element_size(), i.start_req, i.in_opt)
        for i in a.ps
    ]
    modes: Dict[str, Tuple[str, str, int]] = {}
    for name, m in a.names.modules:
        if name in modes or not name:
            continue
        own = m.training
        mixed = any(sub.training != own for sub in m.modules())
        modes[name] = (type(m).__name__, "mixed" if mixed else ("train" if own else "eval"), len(m._modules))
    return ModelStats(params, modes)


def optimizer_row(a: "FreezeAudit") -> Optional[OptimizerRow]:
    if not a.optimizers:
        return None
    names = ", ".join(type(o).__name__ for o in a.optimizers)
    if not a.opt_known:
        return OptimizerRow(names, 0, 0, 0, known=False)
    groups = sum(len(o.param_groups) for o in a.optimizers)
    held = [i for i in a.ps if i.in_opt]
    return OptimizerRow(
        names, groups, sum(i.tensor.numel() for i in held if i.start_req), sum(i.tensor.numel() for i in held if not i.start_req)
    )


__all__ = ["ModelStats", "model_stats", "optimizer_row"]
