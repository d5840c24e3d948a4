"""Sources -> the knowledge base dict (see ../README.md for its layout)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import time
from typing import Dict, Iterable, List, Optional, Tuple

from . import callables, classes, seeds
from .evaluate import Evaluator
from .resolve import MODULE, Index
from .sources import LIBRARIES, Library, iter_files
from .records import FileSummary
from .summarize import summarize_source

FORMAT = 2
SECTIONS = ("modules", "aliases", "factories", "optimizers", "non_module_pretrained", "registries", "wrappers",
            "returns_self_exceptions")  # keyed by qualified name (grouped by module)
RETURNS_SELF_FALLBACK = ["cpu", "cuda", "double", "eval", "float", "half", "requires_grad_", "to", "train", "type"]


def _summaries(root: str, lib: Library, cache: Optional[str], log) -> Dict[str, FileSummary]:
    files = list(iter_files(root, lib))
    stamp = [(p, os.path.getmtime(p), os.path.getsize(p)) for p, _, _ in files]
    key = hashlib.sha256(repr((root, stamp, FORMAT, _code_stamp())).encode()).hexdigest()[:16]
    path = os.path.join(cache, f"summaries-{lib.name}-{key}.pickle") if cache else None
    if path and os.path.exists(path):
        with open(path, "rb") as fh:
            return pickle.load(fh)
    t = time.perf_counter()
    out: Dict[str, FileSummary] = {}
    for p, mod, is_pkg in files:
        try:
            with open(p, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        s = summarize_source(text, mod, is_pkg)
        if s is not None:
            out[mod] = s
    log(f"{lib.name}: {len(out)} files read in {time.perf_counter() - t:.1f} s")
    if path:
        os.makedirs(cache, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def _code_stamp() -> Tuple[float, ...]:
    here = os.path.dirname(__file__)
    return tuple(os.path.getmtime(os.path.join(here, n)) for n in ("summarize.py", "records.py", "functions.py"))


def _rel(group: str, q: str) -> str:
    """Shorten a qualname inside its group: `Name` is group.Name, `.x.Name` is group.x.Name."""
    if q.startswith(group + "."):
        rest = q[len(group) + 1 :]
        return rest if "." not in rest else "." + rest
    return q


def _group(flat: Dict[str, object], encode=lambda group, v: v) -> Dict[str, Dict[str, object]]:
    out: Dict[str, Dict[str, object]] = {}
    for q in sorted(flat):
        group, _, name = q.rpartition(".")
        out.setdefault(group, {})[name] = encode(group, flat[q])
    return out


def build(roots: Dict[str, Tuple[str, str]], cache: Optional[str] = None, log=None) -> dict:
    """roots: library name -> (root folder, version label)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    libs = [lib for lib in LIBRARIES if lib.name in roots]
    files: Dict[str, FileSummary] = {}
    for lib in libs:
        for mod, s in _summaries(roots[lib.name][0], lib, cache, log).items():
            files.setdefault(mod, s)  # lightning and pytorch_lightning never share a package
    t = time.perf_counter()
    ix = Index(files)
    ev = Evaluator(ix)
    returns_self = callables.derive_returns_self(ix) or RETURNS_SELF_FALLBACK
    ev.returns_self = frozenset(returns_self)
    data = {
        "format": FORMAT, "sources": {lib.name: roots[lib.name][1] for lib in libs},
        "returns_self": returns_self, "returns_self_exceptions": {}, "modules": {}, "aliases": {}, "factories": {}, "registries": {},
        "optimizers": {}, "non_module_pretrained": {}, "wrappers": {}, "unwrappers": {"calls": {}, "attributes": {}},
    }
    # Library by library, torch first: every torch fact is then computed exactly as in a
    # torch-only run (later libraries cannot change what was memoised for torch).
    for lib in libs:
        prefixes = list(lib.packages)
        mods = classes.module_classes(ix, ev, prefixes)
        opts = classes.optimizer_classes(ix, prefixes)
        facts = callables.factories(ix, ev, prefixes)
        regs = classes.registries(ix, ev, prefixes)
        for reg in regs:  # `MODELS.build(cfg)` builds one of the registered Module classes
            if "MODEL" in reg.rpartition(".")[2]:
                facts[f"{reg}.build"] = [[MODULE], None, False]
        builders = callables.builder_registry(ix, prefixes)
        builders.pop("_all", None)
        pretrained = callables.non_module_pretrained(ix, ev, prefixes)
        wraps = seeds.wrappers(ix, prefixes)
        unwraps = seeds.unwrappers(ix, prefixes)
        wanted = set(mods) | set(opts) | set(facts) | set(pretrained) | set(wraps) | set(unwraps["calls"])
        wanted |= {q.rpartition(".")[0] for q in list(facts) + list(wraps) + list(unwraps["calls"])}
        wanted |= set(regs) | {"torch.optim.optimizer.Optimizer", MODULE}
        data["aliases"].update(drop_bulk_layers(aliases(ix, prefixes, wanted), prefixes))
        data["modules"].update(mods)
        data["optimizers"].update({q: 1 for q in opts})
        data["factories"].update(facts)
        for reg, names in list(regs.items()) + list(builders.items()):
            data["registries"].setdefault(reg, {}).update(names)
        data["non_module_pretrained"].update(pretrained)
        data["returns_self_exceptions"].update(callables.returns_self_exceptions(ix, ev, prefixes))
        data["wrappers"].update(wraps)
        data["unwrappers"]["calls"].update(unwraps["calls"])
        for attr, owners in unwraps["attributes"].items():
            data["unwrappers"]["attributes"].setdefault(attr, []).extend(owners)
        log(f"{lib.name}: {len(mods)} modules, {len(facts)} factories, {len(opts)} optimizers")
    log(f"analysis: {time.perf_counter() - t:.1f} s")
    return compact(data)


def aliases(ix: Index, prefixes: List[str], wanted: Iterable[str]) -> Dict[str, str]:
    """Public names of packages (`torch.nn.Linear`) -> canonical names, for what the base records."""
    wanted = set(wanted)
    out: Dict[str, str] = {}
    inside = tuple(p + "." for p in prefixes)
    for mod in sorted(ix.files):
        s = ix.files[mod]
        if not s.is_package or not (mod in prefixes or mod.startswith(inside)):
            continue
        if any(part.startswith("_") for part in mod.split(".")):
            continue  # nobody imports from a private package
        for name in sorted(set(ix.public_names(mod))):
            q = f"{mod}.{name}"
            r = ix.resolve(q)
            if r is not None and r != q and r in wanted:
                out[q] = r
    return out


def drop_bulk_layers(found: Dict[str, str], prefixes: List[str], bulk: int = 50) -> Dict[str, str]:
    """Drop `transformers.models.X` when `transformers.X` is the same: a package one level under
    the top that only re-exports (more than `bulk` names) what the top package offers too."""
    groups: Dict[str, Dict[str, str]] = {}
    for q, target in found.items():
        group, _, name = q.rpartition(".")
        groups.setdefault(group, {})[name] = target
    out = dict(found)
    for group, names in groups.items():
        parent = group.rpartition(".")[0]
        if parent in prefixes and len(names) > bulk:
            top = groups.get(parent, {})
            if all(top.get(n) == t for n, t in names.items()):
                for n in names:
                    del out[f"{group}.{n}"]
    return out


def _by_module(group: str, names: Dict[str, str]) -> Dict[str, object]:
    """{name: qualname} -> {module: [names]} for names kept as they are; "=" holds the renamed."""
    out: Dict[str, object] = {}
    for name in sorted(names):
        module, _, target = names[name].rpartition(".")
        if target == name:
            out.setdefault(_rel(group, module), []).append(name)
        else:
            out.setdefault("=", {})[name] = _rel(group, names[name])
    return out


def _pack_aliases(group: str, names: Dict[str, str]) -> str:
    items = []
    for module, found in _by_module(group, names).items():
        if module == "=":
            items += [f"={n}:{t}" for n, t in found.items()]
        else:
            items.append(f"{module}:{','.join(found)}")
    return "|".join(items)


def compact(data: dict) -> dict:
    """The shipped layout (../README.md): sections grouped by module, names relative to their
    group; the three big sections pack each group into one string, decoded on first use (the
    whole file then parses in a few milliseconds)."""
    out = dict(data)
    out["modules"] = {
        g: "|".join(f"{n};{v[1]}" if v[0] == [MODULE] else f"{n};{v[1]};{','.join(_rel(g, b) for b in v[0])}"
                    for n, v in members.items())
        for g, members in _group(data["modules"]).items()
    }
    aliases: Dict[str, Dict[str, str]] = {}
    for q, target in data["aliases"].items():
        group, _, name = q.rpartition(".")
        aliases.setdefault(group, {})[name] = target
    out["aliases"] = {g: _pack_aliases(g, names) for g, names in sorted(aliases.items())}
    out["factories"] = _group(
        data["factories"], lambda g, v: [[_rel(g, c) for c in v[0]]] + ([v[1]] if v[1] is not None or v[2] else [])
        + (["or-plain"] if v[2] else [])
    )
    out["optimizers"] = {g: sorted(names) for g, names in _group(data["optimizers"]).items()}
    out["non_module_pretrained"] = {
        g: "|".join(f"{n}:{kind}" for n, kind in members.items())
        for g, members in _group(data["non_module_pretrained"]).items()
    }
    out["registries"] = {r: _by_module(r.rpartition(".")[0], m) for r, m in sorted(data["registries"].items())}
    out["unwrappers"]["attributes"] = {a: sorted(set(v)) for a, v in data["unwrappers"]["attributes"].items()}
    return out


def restrict(data: dict, top: str) -> dict:
    """The entries of one top-level package (what a torch-only regeneration must reproduce)."""
    def keep(q: str) -> bool:
        return q == top or q.startswith(top + ".")

    out = {}
    for section in SECTIONS:
        out[section] = {k: v for k, v in data[section].items() if keep(k)}
    out["unwrappers"] = {
        "calls": {k: v for k, v in data["unwrappers"]["calls"].items() if keep(k)},
        "attributes": {a: [c for c in v if keep(c)] for a, v in data["unwrappers"]["attributes"].items()},
    }
    out["unwrappers"]["attributes"] = {a: v for a, v in out["unwrappers"]["attributes"].items() if v}
    if top == "torch":
        out["returns_self"] = data["returns_self"]
        out["source"] = data["sources"].get("torch")
    return out


def tops(names: Iterable[str]) -> List[str]:
    """The top-level packages of these libraries."""
    return [p for lib in LIBRARIES if lib.name in set(names) for p in lib.packages]


def merge(old: dict, new: dict, names: Iterable[str]) -> dict:
    """`old` with the entries and sources of the libraries `names` taken from `new` (an
    `--only` run: the other libraries' entries stay as they were)."""
    names = list(names)
    out = json.loads(json.dumps(old))
    owned = tuple(tops(names))

    def mine(q: str) -> bool:
        return q in owned or q.startswith(tuple(t + "." for t in owned))

    for section in SECTIONS + ("unwrappers.calls",):
        src, dst = (new, out) if "." not in section else (new["unwrappers"], out["unwrappers"])
        key = section.rpartition(".")[2]
        dst[key] = {k: v for k, v in dst[key].items() if not mine(k)}
        dst[key].update({k: v for k, v in src[key].items() if mine(k)})
        dst[key] = dict(sorted(dst[key].items()))
    attrs = out["unwrappers"]["attributes"]
    for attr in set(attrs) | set(new["unwrappers"]["attributes"]):
        kept = [c for c in attrs.get(attr, []) if not mine(c)]
        attrs[attr] = sorted(kept + [c for c in new["unwrappers"]["attributes"].get(attr, []) if mine(c)])
    out["unwrappers"]["attributes"] = {a: v for a, v in sorted(attrs.items()) if v}
    if "torch" in names:
        out["returns_self"] = new["returns_self"]
    out["sources"].update({n: new["sources"][n] for n in names})
    return out
