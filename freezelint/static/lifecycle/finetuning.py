"""The optimizer a Lightning `BaseFinetuning` callback's `finetune_function` receives.

Lightning calls the callback's `freeze_before_training(pl_module)` from `Callback.setup`,
before the strategy calls the LightningModule's `configure_optimizers`; then, at every
train epoch start, `finetune_function(pl_module, epoch, optimizer)` with each optimizer
it built (lightning/pytorch/trainer/trainer.py `_run`: `_call_setup_hook` before
`strategy.setup`; callbacks/finetuning.py `setup`, `on_train_epoch_start`). So what
`optimizer` holds is what the LightningModule's `configure_optimizers` took once the
callback's freezes had run.

`pl_module_optimizers` answers that from the LightningModules this file defines, their
optimizers' parameter sources re-rooted from `self` to the callback's `pl_module` name.
It answers "unknown" (one optimizer event with no sources, which no rule reads as
evidence) whenever the module may be one it cannot see: no LightningModule here, one
defined in another file of the project, a `configure_optimizers` it cannot find or
whose sources are not all `self` paths, or a module that adds parameter groups itself.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import FUNCTION_NODES, dotted_name, method_name
from freezelint.static.flow.file_flow import FileFlow

FINETUNING_BASES = frozenset({"BaseFinetuning", "BackboneFinetuning"})
# Lightning's BackboneFinetuning freezes `pl_module.backbone` in its own `freeze_before_training`
# and adds it with `unfreeze_and_add_param_group` in its own `finetune_function`.
BACKBONE_FINETUNING = "BackboneFinetuning"
_LIGHTNING = "LightningModule"
# The module's hooks that run before the optimizer is built, or can add groups to it later.
_MODULE_METHODS_READ = ("setup", "configure_model", "configure_optimizers")


def _last(name: Optional[str]) -> str:
    return (name or "").rsplit(".", 1)[-1]


def _file_classes(tree: ast.Module) -> Dict[str, ast.ClassDef]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}


def _same_file_chain(cls: ast.ClassDef, classes: Dict[str, ast.ClassDef]) -> List[ast.ClassDef]:
    """The class and the bases this file defines, nearest first."""
    out, todo, seen = [], [cls], set()
    while todo:
        c = todo.pop(0)
        if id(c) in seen:
            continue
        seen.add(id(c))
        out.append(c)
        todo.extend(classes[_last(dotted_name(b))] for b in c.bases if _last(dotted_name(b)) in classes)
    return out


def is_finetuning_callback(cls: ast.ClassDef, classes: Optional[Dict[str, ast.ClassDef]] = None) -> bool:
    if classes is None:
        return any(_last(dotted_name(b)) in FINETUNING_BASES for b in cls.bases)
    return any(_last(dotted_name(b)) in FINETUNING_BASES for c in _same_file_chain(cls, classes) for b in c.bases)


def _is_lightning_module(cls: ast.ClassDef, classes: Dict[str, ast.ClassDef]) -> bool:
    return any(_last(dotted_name(b)) == _LIGHTNING for c in _same_file_chain(cls, classes) for b in c.bases)


def _elsewhere_lightning_module(flow_: FileFlow, names: Set[str]) -> bool:
    """Does the project define a LightningModule outside this file (the callback may be for it)?"""
    facts = flow_.facts
    table = facts.project.class_table
    here = {f"{facts.module_name}.{n}" for n in names} if facts.module_name else set()
    if not facts.module_name:  # a project without a root names its files `_fileN`: match by unique short name
        here = {qs[0] for n in names for qs in [table.short.get(n, [])] if len(qs) == 1}
    memo: Dict[str, bool] = {}

    def reaches(q: str, depth: int = 0) -> bool:
        if q in memo or depth > 8:
            return memo.get(q, False)
        memo[q] = False
        got = False
        for base in table.classes[q].bases:
            if _last(base) == _LIGHTNING:
                got = True
            else:
                found = table.find(base)
                got = found is not None and found != q and reaches(found, depth + 1)
            if got:
                break
        memo[q] = got
        return got

    return any(q not in here and reaches(q) for q in table.classes)


def _method(chain: List[ast.ClassDef], name: str) -> Optional[ast.AST]:
    for c in chain:
        for m in c.body:
            if isinstance(m, FUNCTION_NODES) and m.name == name:
                return m
    return None


def _rerooted(path: Optional[str], pl_module: str) -> Optional[str]:
    if path is None:
        return None
    parts = flow.segments(path)
    if parts[0] != "self" or "*" in parts:
        return None
    return ".".join([pl_module] + parts[1:])


def _module_optimizers(flow_: FileFlow, module: ast.ClassDef, chain: List[ast.ClassDef], pl_module: str,
                       opt_name: str) -> Optional[List[flow.Event]]:
    """The optimizers `configure_optimizers` builds, over `pl_module` paths; None when not all are known."""
    fn = _method(chain, "configure_optimizers")
    if fn is None:
        return None
    for name in _MODULE_METHODS_READ:
        m = _method(chain, name)
        if m is not None and flow_.timeline(m).of(flow.UNFREEZE):
            return None  # it makes something trainable before its optimizer is built
    if any(method_name(n) == "add_param_group" for c in chain for n in ast.walk(c)) or any(map(adds_to_groups, chain)):
        return None  # it adds parameters to its optimizer itself
    tl = flow_.timeline(fn)
    if not tl.of(flow.OPT):
        tl = flow_.timeline(fn, follow=False)
    opts = tl.of(flow.OPT)
    if not opts:
        return None
    out = []
    for o in opts:
        over = tuple((_rerooted(p, pl_module), how) for p, how in o.over)
        if not over or any(p is None for p, _ in over):
            return None
        out.append(flow.Event(flow.OPT, module, fn, name=opt_name, over=over, via=f"{module.name}.configure_optimizers"))
    return out


def _groups_or_params(node: ast.AST) -> bool:
    """`x.param_groups`, `x.param_groups[i]` or `x.param_groups[i]["params"]` (not a group's "lr")."""
    if isinstance(node, ast.Attribute):
        return node.attr == "param_groups"
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value == "params" and _groups_or_params(node.value)
        return isinstance(node.value, ast.Attribute) and node.value.attr == "param_groups"
    return False


def adds_to_groups(cls: ast.ClassDef) -> bool:
    """The class puts parameters into an optimizer's groups by hand
    (`optimizer.param_groups[0]["params"].extend(...)`, `optimizer.param_groups = ...`)."""
    for n in ast.walk(cls):
        if isinstance(n, ast.Call) and method_name(n) in ("extend", "append", "insert") and _groups_or_params(n.func.value):
            return True
        if isinstance(n, (ast.Assign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if any(_groups_or_params(t) for t in targets):
                return True
    return False


def _calls_base_finetune(cls: ast.ClassDef) -> bool:
    """`super().finetune_function(...)`: the base class's own unfreezing (BackboneFinetuning adds a group)."""
    return any(
        isinstance(n, ast.Call) and method_name(n) == "finetune_function" and isinstance(n.func.value, ast.Call)
        and isinstance(n.func.value.func, ast.Name) and n.func.value.func.id == "super"
        for n in ast.walk(cls)
    )


def pl_module_optimizers(flow_: FileFlow, callback: ast.ClassDef, pl_module: str, opt_name: str) -> List[flow.Event]:
    """Optimizer events for what `finetune_function`'s `optimizer` can be: one per optimizer of each
    LightningModule of this file when every one is known, else one with no sources (unknown)."""
    unknown = [flow.Event(flow.OPT, callback, callback.body[0] if callback.body else None, name=opt_name)]
    facts = flow_.facts
    classes = _file_classes(facts.module)
    if any(adds_to_groups(c) or _calls_base_finetune(c) for c in _same_file_chain(callback, classes)):
        return unknown
    modules = [c for c in classes.values() if _is_lightning_module(c, classes)]
    if not modules:
        return unknown
    if _elsewhere_lightning_module(flow_, set(classes)):
        return unknown
    bases = {id(b) for m in modules for b in _same_file_chain(m, classes)[1:]}
    out: List[flow.Event] = []
    for module in modules:
        got = _module_optimizers(flow_, module, _same_file_chain(module, classes), pl_module, opt_name)
        if got is None and id(module) in bases and _method([module], "configure_optimizers") is None:
            continue  # a base its subclasses here complete
        if got is None:
            return unknown
        out.extend(got)
    return out or unknown
