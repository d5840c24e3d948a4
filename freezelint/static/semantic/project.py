"""The project model: every file's summary, resolved across files.

Imports are resolved between the project's own modules (packages, relative
imports, a `src/` layout); class hierarchies and function summaries are joined
to a fixpoint, so "`get_model(cfg)` returns an nn.Module" and "`freeze(m)` freezes
every parameter of `m`" hold whichever file defines them and however deep the
helpers call each other (recursion bounded by `MAX_ROUNDS`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import AbstractSet, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from freezelint.static.semantic import call_args
from freezelint.static.semantic.evidence import library_class_kind
from freezelint.static.semantic.project_modes import ClassFacts, ClassTable
from freezelint.static.semantic.registries import module_registries
from freezelint.static.summaries.file_summary import FileSummary, summarize_tree
from freezelint.static.input.torch_target import project_package_range, project_torch_max

MAX_ROUNDS = 8

# Base classes outside the project that are nn.Module subclasses (by their last name).
KNOWN_MODULE_BASES: FrozenSet[str] = frozenset(
    {
        "Module", "Sequential", "ModuleList", "ModuleDict", "LightningModule", "PreTrainedModel", "ModelMixin",
        "PeftModel", "DistributedDataParallel", "DataParallel", "Linear", "Conv1d", "Conv2d", "Conv3d", "Embedding",
        "LayerNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "MultiheadAttention", "TransformerEncoder",
        "TransformerEncoderLayer", "TransformerDecoderLayer", "GRU", "LSTM", "RNN", "BaseModule",
    }
)
_NOT_MODULE = frozenset({"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"})


def summarize(text: str, is_near_requires_grad=None) -> FileSummary:
    """The summary of a source text (an empty one if it does not parse: FRZ000 is reported elsewhere)."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return FileSummary()
    return summarize_tree(tree, is_near_requires_grad, text)


def _library_module_base(base: Optional[str], _seen: Optional[Dict[str, bool]] = None) -> bool:
    """A base resolved through the file's imports to a library class: is it an nn.Module? (`_seen`: the
    answers so far; a project names the same bases over and over, `PreTrainedModel` thousands of times)"""
    if not base or base.startswith(("torch.nn.", "typing.", "abc.")):
        return False  # torch.nn classes: base_is_module already knows them
    if _seen is None:
        return library_class_kind(base) is not None
    got = _seen.get(base)
    if got is None:
        got = _seen[base] = library_class_kind(base) is not None
    return got


def base_is_module(base: str, module_classes: AbstractSet[str]) -> bool:
    base = base.split("[")[0].strip()
    last = base.rsplit(".", 1)[-1]
    if last in _NOT_MODULE:
        return False
    if re.fullmatch(r"(torch\.)?nn\.[A-Z]\w*", base):
        return True
    return last in KNOWN_MODULE_BASES or last in module_classes


@lru_cache(maxsize=8)
def _prefix(root: str) -> str:
    """An absolute root with its separator: a normalised path starting so is below it ("\0": never)."""
    start = os.path.normpath(root)
    return start + os.sep if os.path.isabs(root) and not start.endswith(os.sep) else "\0"


def module_name(path: str, root: Optional[str]) -> str:
    """`src/pkg/models.py` under root -> `pkg.models`; a package's `__init__.py` -> the package."""
    if root:
        abspath, prefix = os.path.abspath(path), _prefix(root)
        # below the root: the tail is what relpath gives (abspath is normalised), without its splitting
        rel = abspath[len(prefix):] if abspath.startswith(prefix) else os.path.relpath(abspath, root)
    else:
        rel = os.path.basename(path)
    rel = os.path.splitext(rel)[0].replace(os.sep, "/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":
        parts.pop(0)
    if any(p == ".." for p in parts):
        parts = [os.path.splitext(os.path.basename(path))[0]]
    return ".".join(parts)


@dataclass
class ProjectIndex:
    module_classes: FrozenSet[str] = frozenset()  # short names of project nn.Module classes
    # class names defined both as a Module and as something else: never trusted
    ambiguous_classes: FrozenSet[str] = frozenset()
    option_classes: FrozenSet[str] = frozenset()
    def_params: FrozenSet[str] = frozenset()
    digest: str = ""
    # qualified function name -> project class (short name) or "" (a Module of unknown class) it returns
    module_factories: Dict[str, str] = field(default_factory=dict)
    # qualified function name -> [(param index, path below it, FREEZE/UNFREEZE/EVAL/TRAIN)], resolved
    effects: Dict[str, Tuple[Tuple[int, str, str], ...]] = field(default_factory=dict)
    train_overriding_classes: FrozenSet[str] = frozenset()
    effect_names: FrozenSet[str] = frozenset()  # short names of functions with effects (flow's cheap gate)
    root: Optional[str] = None  # the project root the module names are relative to
    torch_max: Optional[Tuple[int, int]] = None  # newest torch the project allows (torch_target.py); None: unbounded
    # (oldest, newest) transformers the project allows (torch_target.project_package_range); None: unbounded
    transformers_range: Tuple[Optional[Tuple[int, int]], Optional[Tuple[int, int]]] = (None, None)
    peft_range: Tuple[Optional[Tuple[int, int]], Optional[Tuple[int, int]]] = (None, None)  # the same for peft
    _short: Dict[str, List[str]] = field(default_factory=dict)  # short function name -> qualified names
    class_table: ClassTable = field(default_factory=ClassTable)  # project_modes: BatchNorm, train() overrides
    freeze_words: FrozenSet[str] = frozenset()  # attribute names written near a freeze in any file
    unfreeze_words: FrozenSet[str] = frozenset()  # summary_unfreezes: attribute names some file sets trainable
    unfreeze_paths: FrozenSet[str] = frozenset()  # summary_unfreezes: the paths of it that name one of them
    # project Module class (short name) -> the attribute names its instances are stored under in the project
    # (`self.vision_tower = CLIPVisionTower(...)`, or `= build_vision_tower(cfg)`, a builder one of whose returns is it)
    stored_as: Dict[str, FrozenSet[str]] = field(default_factory=dict)
    # construction.constructed_names: classes whose __init__ freezes or evals below the instance, their factories
    constructed_names: FrozenSet[str] = frozenset()
    # call_args.join: qualified function or class -> {parameter: what every call site in the project passes}
    call_args_table: Dict[str, Dict[str, Tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        summaries: Iterable[FileSummary],
        modules: Optional[Sequence[str]] = None,
        root: Optional[str] = None,
        torch_version: Optional[Tuple[int, int]] = None,
    ) -> "ProjectIndex":
        """`torch_version` (config `target-torch-version`) overrides the torch the root's requirements allow."""
        return cls.resolve(summaries, modules).place(root, torch_version)

    @classmethod
    def resolve(cls, summaries: Iterable[FileSummary], modules: Optional[Sequence[str]] = None) -> "ProjectIndex":
        """The summaries joined across files: what depends on them and their module names alone (the result
        cache keeps it, keyed by the summaries' hashes in order: run/cache.py)."""
        summaries = list(summaries)
        mods = list(modules) if modules is not None else [f"_file{i}" for i in range(len(summaries))]
        return _Builder(summaries, mods).build()

    def place(self, root: Optional[str], torch_version: Optional[Tuple[int, int]] = None) -> "ProjectIndex":
        """What the project root says (the torch and transformers its requirements allow) added to a resolved
        index, its digest included; returns the index."""
        index = self
        index.root = root
        index.torch_max = torch_version if torch_version is not None else project_torch_max(root)
        if index.torch_max is not None:  # findings depend on it: cached results must not be shared
            index.digest = hashlib.sha256(f"{index.digest}|torch{index.torch_max}".encode()).hexdigest()
        for package in ("transformers", "peft"):  # so do FRZ112's, the HF Trainer's (lifecycle/hf_versions.py), FRZ215's
            allowed = project_package_range(root, package)
            setattr(index, f"{package}_range", allowed)
            if allowed != (None, None):
                index.digest = hashlib.sha256(f"{index.digest}|{package}{allowed}".encode()).hexdigest()
        return index

    def torch_before(self, major: int, minor: int = 0) -> bool:
        """The project's torch is known to be older than major.minor (its requirements or the config say so)."""
        return self.torch_max is not None and self.torch_max < (major, minor)

    def module_of(self, path: str) -> str:
        return module_name(path, self.root)

    # questions the facts and the flow ask
    def _find(self, table: dict, name: str):
        if name in table:
            return table[name]
        short = name.rsplit(".", 1)[-1]
        quals = [q for q in self._short.get(short, ()) if q in table]
        exact = [q for q in quals if q.endswith("." + name)]
        if len(exact) == 1:
            return table[exact[0]]
        if len(self._short.get(short, ())) == 1 and quals:
            return table[quals[0]]  # the project's only function of that name (an import we could not resolve)
        return None

    def holds_batchnorm(self, class_name: str, attr: Optional[str] = None) -> Optional[bool]:
        """A class (project or library, qualified or short) holds a live BatchNorm (or its `self.<attr>` does)."""
        return self.class_table.holds_batchnorm(class_name, attr)

    def train_keeps_modes(self, class_name: str) -> Optional[bool]:
        """The class or a base (any file, or a library) defines a train() doing more than calling the base's."""
        return self.class_table.train_keeps_modes(class_name)

    def factory_class(self, name: str) -> Optional[str]:
        """For a function that returns an nn.Module: its project class name, or "" when unknown; else None."""
        return self._find(self.module_factories, name)

    def calls_a_helper(self, text: str) -> bool:
        """The text names a project function that freezes, unfreezes or switches modes (a cheap text test): one of
        the names, not inside a longer word, then `(`. Searched for in the reversed text as `(`, then the reversed
        name, then no word character: a pattern led by `(` is tried only where one is, one led by the names at
        most characters of the text (15x slower over the installed transformers, for the same answers)."""
        if not self.effect_names:
            return False
        pattern = self.__dict__.get("_helper_pattern")
        if pattern is None:
            names = sorted(self.effect_names, key=len, reverse=True)
            pattern = self.__dict__["_helper_pattern"] = re.compile(r"\(\s*(?:%s)(?!\w)" % "|".join(re.escape(n[::-1]) for n in names))
        return pattern.search(text[::-1]) is not None

    def call_args(self, qualified: str, param: str) -> Optional[Tuple[str, ...]]:
        """What every call site in the project passes as `param` of this function or class (`call_args.join`)."""
        return self.call_args_table.get(qualified, {}).get(param)

    def function_effects(self, name: str) -> Tuple[Tuple[int, str, str], ...]:
        got = self._find(self.effects, name)
        return tuple(got) if got else ()


def _method_helpers(table: ClassTable) -> Set[str]:
    names: Set[str] = set()
    for q, facts in table.classes.items():
        for method, _, _ in facts.methods:
            if method.startswith("__") or method in ("train", "eval", "forward") or method in names:
                continue
            if table.method_effects(q, method):
                names.add(method)
    return names


class _Builder:
    def __init__(self, summaries: List[FileSummary], modules: List[str]):
        self.summaries = summaries
        self.modules = modules
        self.by_module = dict(zip(modules, summaries))
        # a package is a module some other module is below (its file is `__init__.py`): its relative imports start at itself
        self.packages = {m.rsplit(".", 1)[0] for m in modules if "." in m}

    def resolve(self, written: str, module: str, summary: FileSummary) -> str:
        """A name as written in `module` -> its qualified name (import-resolved where possible)."""
        head, _, rest = written.partition(".")
        target = summary.imports.get(head)
        if target is None:
            if head in summary.class_info or head in summary.functions:
                target = f"{module}.{head}" if module else head
            else:
                return written
        if target.startswith("."):
            level = len(target) - len(target.lstrip("."))
            pkg = module.split(".")
            is_pkg = module in self.packages  # else a module's own package is its name minus the last part
            base = pkg[: len(pkg) - level + (1 if is_pkg else 0)] if level <= len(pkg) else []
            target = ".".join(base + [target.lstrip(".")]) if target.lstrip(".") else ".".join(base)
        return f"{target}.{rest}" if rest else target

    def build(self) -> ProjectIndex:
        bases_of: Dict[str, List[Tuple[str, ...]]] = {}  # short class name -> base texts (compat index)
        qual_bases: Dict[str, List[str]] = {}
        option: Set[str] = set()
        params: Set[str] = set()
        overriding: Set[str] = set()
        words: Set[str] = set()
        unfrozen: Set[str] = set()
        unfrozen_paths: Set[str] = set()
        functions: Dict[str, Tuple[str, FileSummary, object]] = {}
        short: Dict[str, List[str]] = {}
        for module, s in zip(self.modules, self.summaries):
            for name, bases in s.classes:
                bases_of.setdefault(name, []).append(bases)
            for name, info in s.class_info.items():
                qual_bases[f"{module}.{name}"] = [self.resolve(b, module, s) for b in info.bases]
                if info.overrides_train:
                    overriding.add(name)
            option.update(s.option_classes)
            words.update(s.freeze_words)
            unfrozen.update(s.unfreeze_words)
            unfrozen_paths.update(s.unfreeze_paths)
            params.update(s.def_params)
            for fname, f in s.functions.items():
                q = f"{module}.{fname}" if module else fname
                functions[q] = (module, s, f)
                short.setdefault(fname, []).append(q)
        # bases (as written) that resolve to a library Module class the knowledge base knows (`CLIPPreTrainedModel`)
        seen: Dict[str, bool] = {}
        library_bases = {b.rsplit(".", 1)[-1] for bases in qual_bases.values() for b in bases if _library_module_base(b, seen)}
        module_short: Set[str] = set()
        known = set(library_bases)  # module_short and the library bases, for base_is_module
        changed = True
        while changed:  # fixpoint: subclasses of project Module classes are Modules
            changed = False
            for name, defs in bases_of.items():
                if name not in module_short and any(any(base_is_module(b, known) for b in bases) for bases in defs):
                    module_short.add(name)
                    known.add(name)
                    changed = True
        ambiguous = {
            name for name, defs in bases_of.items()
            if name in module_short and not all(any(base_is_module(b, known) for b in bases) for bases in defs)
        }
        trusted = module_short - ambiguous
        # `MODELS.build(cfg)` of a registry whose registered classes are all Modules builds one (registries.py)
        built = {f"{r}.build": "" for r in module_registries(self.summaries, self.modules, self.resolve, lambda b: base_is_module(b, known))}
        factories = self._factories(functions, trusted, built)
        effects = self._effects(functions)
        index = ProjectIndex(
            module_classes=frozenset(trusted),
            ambiguous_classes=frozenset(ambiguous),
            option_classes=frozenset(option),
            def_params=frozenset(params),
            module_factories=factories,
            effects=effects,
            train_overriding_classes=frozenset(overriding),
            effect_names=frozenset(q.rsplit(".", 1)[-1] for q in effects),
            _short=short,
            class_table=self._class_table(qual_bases),
        )
        # caller -> callee: what every call passes; `self.x = x` in an __init__ then holds that class
        index.call_args_table = call_args.join(self.summaries, self.modules, self.resolve, functions, index.class_table)
        call_args.store_attrs(index.call_args_table, self.summaries, self.modules, functions, self.resolve, index.class_table)
        # methods that freeze, unfreeze or switch modes below `self` count as helpers too (flow's cheap gate)
        index.effect_names = index.effect_names | frozenset(_method_helpers(index.class_table))
        # building one of these puts some of it in eval mode or freezes it: a file naming one is walked for train()
        index.constructed_names = index.class_table.constructed_names(factories)
        index.effect_names = index.effect_names | index.constructed_names
        # only the names of classes' submodules are ever asked (and an edit elsewhere keeps the digest)
        index.freeze_words = frozenset(words & {a for f in index.class_table.classes.values() for a, _ in f.attrs})
        index.stored_as = self._stored_as(index.class_table, functions, trusted)
        index.unfreeze_words = frozenset(unfrozen & {a for names in index.stored_as.values() for a in names})
        index.unfreeze_paths = frozenset(p for p in unfrozen_paths if index.unfreeze_words.intersection(p.replace("*", "").split(".")))
        h = hashlib.sha256()
        h.update(index.class_table.digest_part().encode())
        stored = sorted((k, sorted(v)) for k, v in index.stored_as.items())
        for part in (sorted(trusted), sorted(ambiguous), sorted(option), sorted(params), sorted(overriding), sorted(index.freeze_words),
                     sorted(index.unfreeze_words), sorted(index.unfreeze_paths), stored):
            h.update(repr(part).encode())
        h.update(json.dumps(factories, sort_keys=True).encode())
        h.update(json.dumps({k: list(v) for k, v in effects.items()}, sort_keys=True).encode())
        h.update(json.dumps(index.call_args_table, sort_keys=True).encode())
        index.digest = h.hexdigest()
        return index

    def _class_table(self, qual_bases: Dict[str, List[str]]) -> ClassTable:
        table = ClassTable()
        for module, s in zip(self.modules, self.summaries):
            for name, info in s.class_info.items():
                q = f"{module}.{name}"
                attrs = tuple((a, self.resolve(c, module, s)) for a, c in info.attrs.items())
                table.classes[q] = ClassFacts(tuple(qual_bases.get(q, ())), attrs, tuple(info.batchnorm_attrs),
                                              info.overrides_train, info.train_passthrough,
                                              tuple(info.frozen_attrs), info.freezes_self,
                                              tuple(info.param_containers), tuple(info.method_names),
                                              tuple((m, tuple(e), tuple(c)) for m, (e, c) in info.methods.items()),
                                              info.init)
                table.short.setdefault(name, []).append(q)
        return table

    def _stored_as(self, table: ClassTable, functions, trusted: Set[str]) -> Dict[str, FrozenSet[str]]:
        out: Dict[str, Set[str]] = {}
        for c in table.classes.values():
            for attr, ctor in c.attrs:
                built = {ctor.rsplit(".", 1)[-1]}
                if ctor in functions:  # a builder: every class its returns build
                    module, s, f = functions[ctor]
                    built = {self.resolve(r, module, s).rsplit(".", 1)[-1] for r in [f.returns or ""] + f.returns_also if r}
                for name in built & trusted:
                    out.setdefault(name, set()).add(attr)
        return {k: frozenset(v) for k, v in out.items()}

    def _returns_module(self, ctor: str, trusted: Set[str]) -> Optional[str]:
        last = ctor.rsplit(".", 1)[-1]
        if ctor.startswith(("torch.nn.", "nn.")) and last[:1].isupper() and last not in _NOT_MODULE:
            return ""
        if last in trusted:
            return last
        return None

    def _factories(self, functions, trusted: Set[str], seed: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        out: Dict[str, str] = dict(seed or {})
        for _ in range(MAX_ROUNDS):
            changed = False
            for q, (module, s, f) in functions.items():
                if q in out or not f.returns:
                    continue
                ctor = self.resolve(f.returns, module, s)
                got = self._returns_module(ctor, trusted)
                if got is None and ctor in out:
                    got = out[ctor]  # returns what another factory returns
                elif got is None and f"{module}.{ctor}" in out:
                    got = out[f"{module}.{ctor}"]  # a name of its own module (`return BACKBONES.build(cfg)`)
                if got is not None:
                    out[q] = got
                    changed = True
            if not changed:
                break
        return out

    def _effects(self, functions) -> Dict[str, Tuple[Tuple[int, str, str], ...]]:
        resolved: Dict[str, Set[Tuple[int, str, str]]] = {q: set(f.effects) for q, (_, _, f) in functions.items()}
        for _ in range(MAX_ROUNDS):
            changed = False
            for q, (module, s, f) in functions.items():
                for callee, mapping in f.passes:
                    cq = self.resolve(callee, module, s)
                    theirs = resolved.get(cq)
                    if not theirs or cq == q:
                        continue
                    for ci, cpath, kind in list(theirs):
                        if ci in mapping:
                            pi, path = mapping[ci]
                            eff = (pi, ".".join(p for p in (path, cpath) if p), kind)
                            if eff not in resolved[q]:
                                resolved[q].add(eff)
                                changed = True
            if not changed:
                break
        return {q: tuple(sorted(e)) for q, e in resolved.items() if e}
