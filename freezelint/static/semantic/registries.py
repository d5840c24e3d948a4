"""Registries whose members are all nn.Modules: what `MODELS.build(cfg)` (or a `build_backbone(cfg)` returning it) builds.

OpenMMLab-style code builds its networks from a config through a registry: `@BACKBONES.register_module()`
on each class, `BACKBONES = MODELS` aliases, `def build_backbone(cfg): return BACKBONES.build(cfg)`. Which
class a config names is not known, but when every class of the project registered to that registry (two
at least, through its aliases) is an nn.Module, what it builds is one: `project._Builder` then counts
`<registry>.build` as a factory of a Module of unknown class. A class added by a call
(`MODELS.register_module(module=X)`) is not seen, nor one of another package registered at run time.
"""

from __future__ import annotations

from typing import Callable, Dict, Set

_DEPTH = 8


def module_registries(summaries, modules, resolve: Callable, is_module_base: Callable[[str], bool]) -> Set[str]:
    """Qualified names (and their aliases) of the registries every registered project class of which is a Module
    (`is_module_base`: a base as written names a Module class: torch.nn's, the project's, a library's)."""
    by_module = dict(zip(modules, summaries))
    alias: Dict[str, str] = {}
    for module, s in zip(modules, summaries):
        for name, target in s.sites.aliases.items():
            alias[_qual(module, name)] = _qualify(target, module, s, resolve)
    packages = {m.rsplit(".", 1)[0] for m in modules if "." in m}

    def canon(q: str) -> str:
        for _ in range(_DEPTH):
            if q in alias:
                q = alias[q]
                continue
            mod, _, name = q.rpartition(".")
            s = by_module.get(mod)
            if s is None or name not in s.imports:
                break
            target = s.imports[name]  # a package's re-export (`from .builder import BACKBONES`)
            if target.startswith("."):
                level = len(target) - len(target.lstrip("."))
                base = mod.split(".") if mod in packages else mod.split(".")[:-1]
                target = ".".join(base[: len(base) - (level - 1)] + [target.lstrip(".")])
            q = target
        return q

    members: Dict[str, Set[str]] = {}
    modular: Set[str] = set()  # the registered classes (qualified) whose own bases say Module
    for module, s in zip(modules, summaries):
        for cls, regs in s.sites.registered.items():
            q = _qual(module, cls)
            info = s.class_info.get(cls)
            if info is not None and any(is_module_base(b) for b in info.bases):
                modular.add(q)
            for r in regs:
                members.setdefault(canon(_qualify(r, module, s, resolve)), set()).add(q)
    good = {r for r, classes in members.items() if len(classes) >= 2 and classes <= modular}
    return good | {a for a in alias if canon(a) in good}


def _qual(module: str, name: str) -> str:
    return f"{module}.{name}" if module else name


def _qualify(written: str, module: str, summary, resolve: Callable) -> str:
    """A name as written in `module`: through its imports, else a module-level name of that module."""
    head = written.split(".")[0]
    if head in summary.imports:
        return resolve(written, module, summary)
    return _qual(module, written)
