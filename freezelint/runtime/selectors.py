"""Names as users know them, and `frozen=` / `trainable=` selector matching.

Names drop wrapper components: DistributedDataParallel's and DataParallel's
`module.`, torch.compile's `_orig_mod.`, FSDP's `_fsdp_wrapped_module.` and the
activation-checkpoint wrapper's `_checkpoint_wrapped_module.`, wherever they sit
in the tree. A parameter reachable under several names (tied weights, a module
shared by two parents) keeps all of them; the first in `named_parameters()`
order is its canonical name.

A selector is a dotted module or parameter name, matched on a dot boundary
(`"layer1"` names `layer1.0.weight`, never `layer10.weight`), or an fnmatch
glob (`"embeddings.*"`, `"encoder.layer.[0-5]"`) matched against the name and
each of its dot-boundary prefixes.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

# Wrapper components stripped wherever they appear (attribute holding the wrapped module).
_ALWAYS_STRIPPED = ("_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module")


def wrapped_attr(mod: nn.Module) -> Optional[str]:
    """The child attribute a wrapper module forwards to, if `mod` is a known wrapper."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    if isinstance(mod, (DistributedDataParallel, DataParallel)) and "module" in mod._modules:
        return "module"
    for attr in _ALWAYS_STRIPPED:
        if attr in mod._modules and len(mod._modules) == 1:
            return attr
    return None


def is_ddp(mod: nn.Module) -> bool:
    from torch.nn.parallel import DistributedDataParallel

    return isinstance(mod, DistributedDataParallel)


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@dataclass
class TensorEntry:
    tensor: torch.Tensor
    names: List[str] = field(default_factory=list)  # user names, canonical first
    owners: List[Tuple[nn.Module, str, str]] = field(default_factory=list)  # (module, attr, module user name)

    @property
    def name(self) -> str:
        return self.names[0]


class ModelNames:
    """Walks the module tree once: every module, parameter and buffer with its user names."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.modules: List[Tuple[str, nn.Module]] = []  # every path, shared modules repeated
        self.params: List[TensorEntry] = []
        self.buffers: List[TensorEntry] = []
        self._pidx: Dict[int, int] = {}
        self._bidx: Dict[int, int] = {}
        self._walk(model, "", set())
        self.unique_modules: List[nn.Module] = list({id(m): m for _, m in self.modules}.values())

    def _walk(self, mod: nn.Module, user: str, stack: set) -> None:
        if id(mod) in stack:  # a module containing itself: nothing new below
            return
        stack = stack | {id(mod)}
        self.modules.append((user, mod))
        for pname, p in mod._parameters.items():
            if p is None:
                continue
            self._add(self.params, self._pidx, p, join(user, pname), mod, pname, user)
        for bname, b in mod._buffers.items():
            if b is None:
                continue
            self._add(self.buffers, self._bidx, b, join(user, bname), mod, bname, user)
        skip = wrapped_attr(mod)
        for cname, child in mod._modules.items():
            if child is None:
                continue
            self._walk(child, user if cname == skip else join(user, cname), stack)

    @staticmethod
    def _add(entries, index, t, name, mod, attr, modname) -> None:
        i = index.get(id(t))
        if i is None:
            index[id(t)] = len(entries)
            entries.append(TensorEntry(t, [name], [(mod, attr, modname)]))
        else:
            e = entries[i]
            if name not in e.names:
                e.names.append(name)
            e.owners.append((mod, attr, modname))

    def param_entry(self, p: torch.Tensor) -> Optional[TensorEntry]:
        i = self._pidx.get(id(p))
        return None if i is None else self.params[i]

    def module_names(self) -> List[str]:
        return [n for n, _ in self.modules if n]


def _has_magic(s: str) -> bool:
    return any(c in s for c in "*?[")


def normalize_selector(sel: str, model: nn.Module) -> str:
    """Drop wrapper components the user may have copied from a wrapped model's names."""
    parts = [p for p in sel.strip().strip(".").split(".") if p not in _ALWAYS_STRIPPED]
    root = model
    while parts and parts[0] == "module" and wrapped_attr(root) == "module":
        parts = parts[1:]
        root = root.module
    return ".".join(parts)


def prefixes(name: str) -> List[str]:
    """Dot-boundary prefixes of a dotted name, shortest first, the name itself last."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def match_score(sel: str, name: str) -> Optional[Tuple[int, int, int]]:
    """How specifically `sel` names `name` (None: not at all). Higher is more specific."""
    magic = _has_magic(sel)
    for p in prefixes(name):
        if p == sel or (magic and fnmatch.fnmatchcase(p, sel)):
            return (sel.count(".") + 1, 0 if magic else 1, len(sel))
    return None


@dataclass
class Selection:
    """The verdict of the selectors for one name: 'frozen', 'trainable' or None."""

    kind: Optional[str]
    selector: Optional[str] = None


class Selectors:
    def __init__(self, model: nn.Module, frozen: Optional[Sequence[str]], trainable: Optional[Sequence[str]]):
        self.frozen_raw = list(frozen) if frozen is not None else None
        self.trainable_raw = list(trainable) if trainable is not None else None
        self.frozen = [(s, normalize_selector(s, model)) for s in (self.frozen_raw or [])]
        self.trainable = [(s, normalize_selector(s, model)) for s in (self.trainable_raw or [])]

    @property
    def active(self) -> bool:
        return bool(self.frozen or self.trainable) or self.frozen_raw is not None

    def classify(self, name: str) -> Selection:
        best = None
        for kind, sels in (("frozen", self.frozen), ("trainable", self.trainable)):
            for raw, sel in sels:
                score = match_score(sel, name)
                # Ties go to `frozen`: it is listed first and only a strictly more
                # specific `trainable` selector overrides it.
                if score is not None and (best is None or score > best[0]):
                    best = (score, kind, raw)
        if best is None:
            return Selection(None)
        return Selection(best[1], best[2])

    def unmatched(self, names: Sequence[str]) -> List[Tuple[str, str]]:
        """(kind, raw selector) for every selector that names nothing in `names`."""
        out = []
        for kind, sels in (("frozen", self.frozen), ("trainable", self.trainable)):
            for raw, sel in sels:
                if not sel or not any(match_score(sel, n) is not None for n in names):
                    out.append((kind, raw))
        return out


def collapse(selected: Sequence[str], universe: Sequence[str]) -> List[Tuple[str, int]]:
    """Summarise a set of names by the shortest module prefixes they fully cover.

    Returns (display name, number of names it stands for). A prefix stands for the
    selected names only if every name of `universe` under it is selected; the model
    root is never used, so at most one entry per top-level module remains.
    """
    sel = set(selected)
    total: Dict[str, int] = {}
    for n in universe:
        for p in prefixes(n):
            total[p] = total.get(p, 0) + 1
    chosen: Dict[str, int] = {}
    hit: Dict[str, int] = {}
    for n in sel:
        for p in prefixes(n):
            hit[p] = hit.get(p, 0) + 1
    for n in universe:
        if n not in sel:
            continue
        for p in prefixes(n):
            if hit.get(p, 0) == total.get(p, -1):
                chosen[p] = hit[p]
                break
    # names outside the universe (defensive): report as they are
    for n in sel:
        if n not in total:
            chosen[n] = 1
    return sorted(chosen.items())
