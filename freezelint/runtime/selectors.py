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
each of its dot-boundary prefixes; or the `nn.Module` / `nn.Parameter` object
itself (Lightning's `BaseFinetuning.freeze(modules)` style), turned into its names.

Selectors also match names as users write them inside PEFT: without
`base_model.model.` (a `PeftModel`'s root) and without LoRA's `base_layer.`
(`"transformer.h.0.attn.c_attn"` names `base_model.model.transformer.h.0.attn.c_attn.base_layer.weight`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

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


# A selector: a dotted name or glob, or the module / parameter object itself.
Selector = Union[str, nn.Module, torch.Tensor]
SelectorArg = Union[Selector, Iterable[Selector], None]


def as_selector_list(x: Any, what: str) -> Optional[List[Selector]]:
    """Validate a `frozen=` / `trainable=` / `ignore=` argument (None stays None)."""
    if x is None:
        return None
    if isinstance(x, (str, nn.Module, torch.Tensor)):
        return [x]
    try:
        items = list(x)
    except TypeError:
        items = None
    if items is None or not all(isinstance(s, (str, nn.Module, torch.Tensor)) for s in items):
        raise TypeError(
            f"{what}= takes dotted names or globs (str), nn.Module or nn.Parameter objects, or a list of them; "
            f"got {type(x).__name__}"
        )
    return items


def resolve_objects(items: Optional[Sequence[Selector]], names: "ModelNames", what: str) -> Optional[List[str]]:
    """Replace module / parameter objects by their (canonical) names in the model."""
    if items is None:
        return None
    by_id: Dict[int, str] = {}
    for n, m in names.modules:
        by_id.setdefault(id(m), n)
    for e in names.params + names.buffers:
        by_id.setdefault(id(e.tensor), e.name)
    out: List[str] = []
    for s in items:
        if isinstance(s, str):
            out.append(s)
            continue
        n = by_id.get(id(s))
        if n is None:
            kind = "nn.Module" if isinstance(s, nn.Module) else "tensor"
            raise ValueError(f"{what}= got a {kind} ({type(s).__name__}) that is not part of the audited model")
        out.append(n)
    return out


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


def peft_root(model: nn.Module) -> bool:
    """A PEFT `PeftModel` (checked by class, without importing peft)."""
    return any(c.__module__.split(".")[0] == "peft" and c.__name__ == "PeftModel" for c in type(model).__mro__)


def aliases(name: str, peft: bool) -> List[str]:
    """`name` plus the way users write it inside PEFT (no root prefix, no `base_layer`)."""
    out = [name]
    alias = name
    if peft and alias.startswith("base_model.model."):
        alias = alias[len("base_model.model."):]
    alias = ".".join(p for p in alias.split(".") if p != "base_layer")
    if alias and alias != name:
        out.append(alias)
    return out


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
    """`frozen=`, `trainable=` and `ignore=` selectors (already resolved to strings)."""

    KINDS = ("frozen", "trainable", "ignore")

    def __init__(
        self,
        model: nn.Module,
        frozen: Optional[Sequence[str]],
        trainable: Optional[Sequence[str]],
        ignore: Optional[Sequence[str]] = None,
    ):
        self.frozen_raw = list(frozen) if frozen is not None else None
        self.trainable_raw = list(trainable) if trainable is not None else None
        self.peft = peft_root(model)
        self.by_kind = {
            "frozen": [(s, normalize_selector(s, model)) for s in (frozen or [])],
            "trainable": [(s, normalize_selector(s, model)) for s in (trainable or [])],
            "ignore": [(s, normalize_selector(s, model)) for s in (ignore or [])],
        }
        self.frozen = self.by_kind["frozen"]
        self.trainable = self.by_kind["trainable"]

        # Exact selectors are looked up by prefix (a dict), globs are matched one by one:
        # classifying a name costs its depth plus the number of globs, not the number of selectors.
        self._exact: Dict[str, Dict[str, str]] = {}
        self._globs: Dict[str, List[Tuple[str, str]]] = {}
        for kind, sels in self.by_kind.items():
            self._exact[kind] = {}
            self._globs[kind] = []
            for raw, sel in sels:
                if _has_magic(sel):
                    self._globs[kind].append((raw, sel))
                elif sel:
                    self._exact[kind].setdefault(sel, raw)

    @property
    def active(self) -> bool:
        return bool(self.frozen or self.trainable) or self.frozen_raw is not None

    def _best(self, kind: str, name: str) -> Optional[Tuple[Tuple[int, int, int], str]]:
        """(score, raw selector) of the most specific `kind` selector naming `name`."""
        best = None
        exact, globs = self._exact[kind], self._globs[kind]
        for alias in aliases(name, self.peft):
            for p in prefixes(alias):
                raw = exact.get(p)
                if raw is not None:
                    cand = ((p.count(".") + 1, 1, len(p)), raw)
                    if best is None or cand[0] > best[0]:
                        best = cand
            for raw, sel in globs:
                score = match_score(sel, alias)
                if score is not None and (best is None or score > best[0]):
                    best = (score, raw)
        return best

    def ignored(self, names: Sequence[str]) -> bool:
        """Named by `ignore=` (under any of its names): not checked at all."""
        return any(self._best("ignore", n) is not None for n in names)

    def classify(self, name: str) -> Selection:
        best = None
        for kind in ("frozen", "trainable"):
            got = self._best(kind, name)
            # Ties go to `frozen`: it is listed first and only a strictly more
            # specific `trainable` selector overrides it.
            if got is not None and (best is None or got[0] > best[0]):
                best = (got[0], kind, got[1])
        if best is None:
            return Selection(None)
        return Selection(best[1], best[2])

    def unmatched(self, names: Sequence[str]) -> List[Tuple[str, str]]:
        """(kind, raw selector) for every selector that names nothing in `names`."""
        written = [a for n in names for a in aliases(n, self.peft)]
        every_prefix = {p for a in written for p in prefixes(a)}
        out = []
        for kind in self.KINDS:
            for raw, sel in self.by_kind[kind]:
                if not sel:
                    out.append((kind, raw))
                elif _has_magic(sel):
                    if not any(match_score(sel, a) is not None for a in written):
                        out.append((kind, raw))
                elif sel not in every_prefix:
                    out.append((kind, raw))
        return out

    def suggest(self, raw: str, names: Sequence[str]) -> Optional[str]:
        """A "did you mean" for an unmatched selector: a name ending with it, else the closest name."""
        from difflib import get_close_matches

        sel = raw.strip().strip(".")
        written = sorted({a for n in names for a in aliases(n, self.peft)}, key=lambda n: (n.count("."), n))
        tail = [n for n in written if n.endswith("." + sel)]
        if tail:
            return tail[0]
        close = get_close_matches(sel, written, n=1, cutoff=0.75)
        if close:
            return close[0]
        # Compare the last components only: long wrapper prefixes drown a typo.
        last = sel.split(".")[-1]
        by_last: Dict[str, str] = {}
        for n in written:
            by_last.setdefault(n.split(".")[-1], n)
        close = get_close_matches(last, list(by_last), n=1, cutoff=0.75)
        return by_last[close[0]] if close else None


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
