"""`freezelint run`'s intent: the static pass's declarations, pyproject and the command line, as selectors.

A declaration's path is rooted in a variable (`model.backbone`) or in `self` of a class
(`self.backbone` in `Net.__init__`). It names part of the audited model when:

- `self.X` of class C: X below every module of the model that is a C (or a subclass);
- `root.X`: `root` is bound, in a frame running the step, to the model (or a wrapper of it, or a
  module inside it), or is bound nowhere the runner can see (a function that already returned: the
  model is the best guess, kept only when X names something in it).

A declaration under a condition (an `if`, an epoch loop) may not have run, a freeze undone by a later
unfreeze of the same part means the intent changes over time, and a path naming nothing in this
model is another model's: those are listed as not applied, never guessed.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from torch import nn

from freezelint.declarations import Declaration
from freezelint.runtime.selectors import ModelNames, collapse, join, prefixes, wrapped_attr

_INDEX = re.compile(r"\[(-?\d+)\]")


@dataclass
class Intent:
    """Selectors for one audit, and where each came from."""

    frozen: Optional[List[str]] = None
    trainable: Optional[List[str]] = None
    ignore: Optional[List[str]] = None
    origin: Dict[str, Tuple[str, Declaration]] = field(default_factory=dict)  # static selector -> (kind, decl)
    applied: List[Tuple[str, Declaration]] = field(default_factory=list)  # (selector, declaration)
    skipped: List[Tuple[Declaration, str]] = field(default_factory=list)  # (declaration, why not applied)


def _selector_of(path: str) -> str:
    return _INDEX.sub(r".\1", path).replace("..", ".").strip(".")


def _unwrapped(m: nn.Module) -> nn.Module:
    seen = set()
    while id(m) not in seen:
        seen.add(id(m))
        attr = wrapped_attr(m)
        if attr is None:
            break
        m = m._modules[attr]
    return m


def _is_class(m: nn.Module, name: Optional[str]) -> bool:
    return name is not None and any(c.__name__ == name for c in type(m).__mro__)


def _names_in_model(names: ModelNames) -> Tuple[set, List[str]]:
    every = set()
    written = []
    for n, _m in names.modules:
        if n:
            written.append(n)
    for e in names.params + names.buffers:
        written.extend(e.names)
    for w in written:
        every.update(prefixes(w))
    return every, written


def _matches(sel: str, every: set, written: Sequence[str]) -> bool:
    if any(c in sel for c in "*?["):
        return any(fnmatch.fnmatchcase(p, sel) for w in written for p in prefixes(w))
    return sel in every


def map_declaration(
    d: Declaration, model: nn.Module, names: ModelNames, bindings: Dict[str, List[nn.Module]]
) -> Tuple[List[str], Optional[str]]:
    """(selectors in this model, None) or ([], why it does not apply)."""
    if d.conditional:
        return [], "runs only under a condition or in a training loop"
    rest = _selector_of(d.rest)
    if d.root == "self":
        hits = [n for n, m in names.modules if _is_class(m, d.class_name)]
        if not hits:
            return [], f"no `{d.class_name}` in this model"
        sels = [join(n, rest) for n in dict.fromkeys(hits)]
        return ([s for s in sels if s], None) if any(sels) else ([], "freezes the whole model")
    inner = _unwrapped(model)
    bound = [_unwrapped(m) for m in bindings.get(d.root, [])]
    if bound:
        mod_name = {id(m): n for n, m in names.modules}
        here = [mod_name[id(m)] for m in bound if id(m) in mod_name]
        if id(inner) in {id(m) for m in bound} or "" in here:
            prefix = ""
        elif here:
            prefix = here[0]
        else:
            return [], f"`{d.root}` is another model"
        sel = join(prefix, rest)
    else:
        sel = rest
    if not sel:
        return [], "freezes the whole model"
    return [sel], None


def resolve(
    model: nn.Module,
    decls: Iterable[Declaration],
    bindings: Dict[str, List[nn.Module]],
    user: Dict[str, Optional[List[str]]],
    after_change: bool = False,
) -> Intent:
    """The selectors of one audit: the user's (command line, pyproject), then the code's declarations.

    `after_change`: the audit opens because requires_grad flags changed during the run; a freeze that
    some unfreeze of the code (conditional or not) covers is then no longer the intent."""
    names = ModelNames(model)
    every, written = _names_in_model(names)
    intent = Intent()
    static: Dict[str, List[Tuple[str, Declaration]]] = {}
    decls = list(decls)
    unfrozen_later = [d for d in decls if d.kind == "trainable" and d.conditional]
    for d in decls:
        if after_change and d.kind == "frozen" and any(
            u.root == d.root and (d.rest == u.rest or d.rest.startswith(u.rest + ".") or not u.rest) for u in unfrozen_later
        ):
            intent.skipped.append((d, "frozen and unfrozen again: the intent changes during the run"))
            continue
        sels, why = map_declaration(d, model, names, bindings)
        if why is not None:
            intent.skipped.append((d, why))
            continue
        for sel in sels:
            if not _matches(sel, every, written):
                intent.skipped.append((d, f"`{sel}` names nothing in this model"))
                continue
            static.setdefault(sel, []).append((d.kind, d))
    kinds_of = {s: {k for k, _ in v} for s, v in static.items()}
    user_sels = {s for k in ("frozen", "trainable", "ignore") for s in (user.get(k) or [])}
    frozen: List[str] = []
    trainable: List[str] = []
    for sel, entries in static.items():
        d = entries[0][1]
        if sel in user_sels:
            intent.skipped.append((d, "the command line or pyproject says otherwise"))
            continue
        if len(kinds_of[sel]) > 1:
            intent.skipped.extend((e, "frozen and unfrozen again: the intent changes during the run") for _, e in entries)
            continue
        kind = entries[0][0]
        if kind == "frozen" and any(
            "trainable" in ks and (sel == t or sel.startswith(t + ".")) for t, ks in kinds_of.items()
        ):
            intent.skipped.append((d, "a later unfreeze covers it"))
            continue
        (frozen if kind == "frozen" else trainable).append(sel)
        intent.origin[sel] = (kind, d)
        intent.applied.append((sel, d))
    uf, ut, ui = user.get("frozen"), user.get("trainable"), user.get("ignore")
    if frozen or uf is not None:
        # An explicit frozen= names only what it lists: keep what is frozen now declared too (the default).
        now_frozen = [e.name for e in names.params if not e.tensor.requires_grad]
        attr = [n for n, m in names.modules if n and m.__dict__.get("requires_grad") is False]
        base = [n for n, _ in collapse(now_frozen, [e.name for e in names.params])] if now_frozen else []
        intent.frozen = list(dict.fromkeys(list(uf or []) + frozen + base + attr))
    if trainable or ut is not None:
        intent.trainable = list(dict.fromkeys(list(ut or []) + trainable))
    intent.ignore = list(ui) if ui else None
    return intent


def attribute(findings: Sequence[Any], intent: Intent) -> List[Any]:
    """Findings about a part the code declared: the message says where (file:line and the code)."""
    from dataclasses import replace

    if not intent.origin:
        return list(findings)
    out = []
    for f in findings:
        obj = f.obj or ""
        hit = None
        for sel, (kind, d) in intent.origin.items():
            if obj == sel or obj.startswith(sel + ".") or (obj and sel.startswith(obj + ".")):
                hit = (kind, d)
                break
        if hit is not None:
            kind, d = hit
            f = replace(f, message=f"{f.message} [declared {kind} at {d.where}: `{d.code}`, {d.how}]")
        out.append(f)
    return out


__all__ = ["Intent", "attribute", "map_declaration", "resolve"]
