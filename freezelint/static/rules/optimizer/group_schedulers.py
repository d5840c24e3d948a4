"""FRZ203's advice when an LR scheduler was built over the optimizer before the unfreeze.

A torch scheduler keeps one entry per parameter group it was built over (`base_lrs`, the
`initial_lr` of each group), so a group that `optimizer.add_param_group` adds later breaks
some of them. Measured against torch 2.13 and transformers 5.24 (an optimizer over one
group, the scheduler stepped, a group added, then `optimizer.step()` and `scheduler.step()`;
tests/test_frz203_schedulers.py runs the claims the messages make):

- its next `step()` raises `ValueError: zip() argument 2 is shorter than argument 1`:
  `LambdaLR` (so every `get_*_schedule*` of transformers but `get_reduce_on_plateau_schedule`
  and `get_greedy_schedule`, and `get_scheduler` for every name but "reduce_lr_on_plateau" and
  "greedy"; diffusers' `get_*` are `LambdaLR` too, read from its sources), `MultiplicativeLR`,
  `CyclicLR`, `CosineAnnealingWarmRestarts`; `SequentialLR` at its next milestone (its next
  scheduler restarts from `base_lrs`); a `ChainedScheduler` over any of those;
- `OneCycleLR`: `KeyError: 'initial_lr'`;
- `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `PolynomialLR`: fine, unless
  stepped with an epoch (`scheduler.step(epoch)` computes from `base_lrs`: `ValueError`);
- `LinearLR` and `ConstantLR` do not raise but multiply every group by the ratio of their
  factors as the warm-up ends: a group added before then ends above its own rate (0.1 became
  0.2 with `factor=0.5`);
- `ReduceLROnPlateau` and transformers' `GreedyLR`: fine.

Where such a scheduler was built over the optimizer before the unfreeze and is used after it,
`add_param_group` is no advice; what works (run in the same test): the optimizer built over the
unfrozen parameters from the start (frozen parameters get no `.grad`, and torch's optimizers
skip a parameter whose `.grad` is None: weight decay and momentum leave it alone), or the
optimizer and the scheduler rebuilt after the unfreeze.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import arg, dotted_name, string_value
from freezelint.static.rules.wording import python_path

_TORCH = "torch.optim.lr_scheduler."
_ZIP = "its next `step()` raises `ValueError` (\"zip() argument 2 is shorter than argument 1\")"
_TORCH_EFFECTS = {
    "LambdaLR": _ZIP,
    "MultiplicativeLR": _ZIP,
    "CyclicLR": _ZIP,
    "CosineAnnealingWarmRestarts": _ZIP,
    "OneCycleLR": "its next `step()` raises `KeyError: 'initial_lr'`",
    "SequentialLR": "it raises `ValueError` at its next milestone, where the next scheduler restarts from the groups' first rates",
    "LinearLR": "its warm-up multiplies every group by `end_factor / start_factor`, so an added group ends above its own learning rate",
    "ConstantLR": "it divides every group by `factor` at `total_iters`, so an added group ends above its own learning rate",
}
_RAISES_NOT = ("LinearLR", "ConstantLR")
# schedulers that compute from `base_lrs` when stepped with an epoch
_CLOSED_FORM = frozenset({"StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "PolynomialLR", "LinearLR", "ConstantLR"})
_EPOCH_EFFECT = "`{name}.step(epoch)` raises `ValueError`: given an epoch, it computes every group's rate from the first rates it holds"
_HF_NOT_LAMBDA = frozenset({"get_reduce_on_plateau_schedule", "get_greedy_schedule"})
_HF_NAMES_NOT_LAMBDA = ("reduce_lr_on_plateau", "greedy", "REDUCE_ON_PLATEAU", "GREEDY")
_SKIP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_UNWRAPPED = re.compile(r"\.(?:module|_orig_mod)\b")  # flow paths leave out DDP's and compile's wrappers


@dataclass(frozen=True)
class Scheduler:
    """A scheduler over the optimizer that a group added after it breaks."""

    name: str  # as the code names it: `scheduler`, `self.lr_scheduler`
    made: str  # markdown: how it was made (`get_linear_schedule_with_warmup`, a `LambdaLR`)
    effect: str  # what an added group does to it
    raises: bool  # True: an exception; False: a wrong learning rate


def _own_nodes(root: ast.AST) -> Iterator[ast.AST]:
    """Every node of `root`'s own body, nested functions, classes and lambdas left out."""
    stack = list(ast.iter_child_nodes(root))
    while stack:
        n = stack.pop()
        if isinstance(n, _SKIP):
            continue
        yield n
        stack.extend(ast.iter_child_nodes(n))


def _kind(call: ast.Call, qual: str) -> Optional[tuple]:
    """(class name, the argument naming its optimizer, markdown of how it was made) for a known scheduler."""
    last = qual.rsplit(".", 1)[-1]
    if qual.startswith(_TORCH):
        if last == "ChainedScheduler":
            return last, arg(call, 1, "optimizer"), "a `ChainedScheduler`"
        return last, arg(call, 0, "optimizer"), f"a `{last}`"
    if qual.split(".", 1)[0] not in ("transformers", "diffusers") or not last.startswith("get_") or "schedule" not in last:
        return None
    if last == "get_scheduler":
        name = arg(call, 0, "name")
        enum = isinstance(name, ast.Attribute) and (dotted_name(name.value) or "").endswith("SchedulerType")
        text = string_value(name) or (name.attr if enum else None)
        if text is not None and text in _HF_NAMES_NOT_LAMBDA and qual.startswith("transformers"):
            return None
        unsure = "" if text is not None or qual.startswith("diffusers") else (
            " for every name but 'reduce_lr_on_plateau' and 'greedy'"
        )
        return "LambdaLR", arg(call, 1, "optimizer"), f"`{last}`, a `LambdaLR`{unsure}"
    if last in _HF_NOT_LAMBDA:
        return None
    return "LambdaLR", arg(call, 0, "optimizer"), f"`{last}`, a `LambdaLR`"


def _loads(root: ast.AST, name: str) -> List[ast.AST]:
    return [n for n in _own_nodes(root) if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Load) and dotted_name(n) == name]


def _stepped_with_epoch(root: ast.AST, name: str) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "step" and dotted_name(n.func.value) == name
        and (n.args or n.keywords)
        for n in _own_nodes(root)
    )


def breaking_scheduler(tl: flow.Timeline, u: flow.Event, opt: Optional[str], facts) -> Optional[Scheduler]:
    """The scheduler bound to a name before the unfreeze `u`, over `opt` (its optimizer as the code
    names it), that a group added at `u` breaks, and that is used after `u` (a later line, the loop
    around `u`, or an attribute of `self` that outlives the call); None when there is none, or the
    name is bound again after `u` (rebuilt: then the advice of adding a group holds)."""
    stmt = u.stmt if u.stmt is not None else u.node
    at = getattr(stmt, "lineno", None)
    scope = facts.scope_of.get(id(tl.node))
    if not opt or at is None or scope is None:
        return None
    found: Dict[str, Scheduler] = {}
    binds = []
    for n in _own_nodes(tl.node):
        if isinstance(n, (ast.Assign, ast.AnnAssign)) and isinstance(n.value, ast.Call):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if len(targets) == 1 and dotted_name(targets[0]):
                binds.append((n.lineno, n.col_offset, dotted_name(targets[0]), n.value))
    last_bind: Dict[str, int] = {}
    for n in _own_nodes(tl.node):
        if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Store) and dotted_name(n):
            last_bind[dotted_name(n)] = max(last_bind.get(dotted_name(n), 0), n.lineno)
    loops = [n for n in _own_nodes(tl.node) if id(n) in set(u.loops)]
    best = None
    for line, _, name, call in sorted(binds, key=lambda b: b[:2]):
        if line >= at:
            break
        got = _classify(call, lambda f: facts.qualified(f, scope) or "", opt, found, name, tl.node)
        if got is None:
            continue
        found[name] = got
        if last_bind.get(name, 0) > at:
            continue  # rebuilt after the unfreeze
        used = name.startswith("self.") or any(
            n.lineno > at or any(lp.lineno <= n.lineno <= lp.end_lineno for lp in loops) for n in _loads(tl.node, name)
        )
        if used and (best is None or got.raises >= best.raises):
            best = got
    return best


def _classify(call: ast.Call, qualify, opt: str, found: Dict[str, Scheduler], name: str, root: ast.AST) -> Optional[Scheduler]:
    kind = _kind(call, qualify(call.func))
    if kind is None:
        return None
    cls, over, made = kind
    if cls == "ChainedScheduler":
        parts = arg(call, 0, "schedulers")
        inner = []
        for el in parts.elts if isinstance(parts, (ast.List, ast.Tuple)) else ():
            inner.append(_classify(el, qualify, opt, found, name, root) if isinstance(el, ast.Call) else found.get(dotted_name(el) or ""))
        hit = next((s for s in inner if s is not None), None)
        return None if hit is None else Scheduler(name, f"a `ChainedScheduler` over {hit.made}", hit.effect, hit.raises)
    if dotted_name(over) != opt:
        return None
    if cls in _TORCH_EFFECTS:
        return Scheduler(name, made, _TORCH_EFFECTS[cls], cls not in _RAISES_NOT)
    if cls in _CLOSED_FORM and _stepped_with_epoch(root, name):
        return Scheduler(name, made, _EPOCH_EFFECT.format(name=name), True)
    return None


def returned_scheduler(method: ast.AST, facts) -> Optional[Scheduler]:
    """A scheduler that a LightningModule's `configure_optimizers` (`method`) builds over an optimizer it
    builds there, which an added group breaks (Lightning steps the scheduler it returns)."""
    scope = facts.scope_of.get(id(method))
    if scope is None:
        return None
    qualify = lambda f: facts.qualified(f, scope) or ""  # noqa: E731
    built = {dotted_name(n.targets[0]) for n in _own_nodes(method) if isinstance(n, ast.Assign) and len(n.targets) == 1
             and isinstance(n.value, ast.Call)} - {None}
    names = {id(n.value): dotted_name(n.targets[0]) for n in _own_nodes(method) if isinstance(n, ast.Assign) and len(n.targets) == 1}
    found: Dict[str, Scheduler] = {}
    for call in sorted((n for n in _own_nodes(method) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset)):
        kind = _kind(call, qualify(call.func))
        over = dotted_name(kind[1]) if kind is not None else None
        if over in built:
            got = _classify(call, qualify, over, found, names.get(id(call)) or "the scheduler", method)
            if got is not None:
                found[got.name] = got
    return next(iter(sorted(found.values(), key=lambda s: not s.raises)), None)


def _receivers(params: Optional[ast.AST], facts) -> Dict[str, str]:
    """`X.parameters()` receivers in an optimizer's `params` argument: their path as Python -> the code."""
    out = {}
    for n in ast.walk(params) if params is not None else ():
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("parameters", "named_parameters"):
            code = facts.code(n.func.value).strip()
            out[_UNWRAPPED.sub("", code)] = code
    return out


def _params_expr(o: flow.Event, u: flow.Event, own: Optional[str], facts) -> Optional[str]:
    """An expression for all the parameters of what `o` was built over and of the unfrozen module."""
    if any(how == flow.SUBSET for _, how in o.over) or own is None:
        return None
    paths = [t for t, _ in o.over] + [u.target]
    cover = []
    for p in paths:
        if p is None or "*" in p:
            return None
        if not any(flow.strictly_inside(p, q) for q in paths) and p not in cover:
            cover.append(p)
    params = arg(o.node, 0, "params") if isinstance(o.node, ast.Call) else None
    seen = _receivers(params, facts)
    codes = []
    for p in cover:
        code = own if p == u.target else seen.get(python_path(p) or "", python_path(p))
        if code is None:
            return None
        codes.append(code)
    if len(codes) == 1:
        return f"{codes[0]}.parameters()"
    return "[" + ", ".join(f"*{c}.parameters()" for c in codes) + "]"


def _rebuilt_call(o: flow.Event, expr: str, facts) -> Optional[str]:
    """The optimizer's own call with `expr` as its `params`; None for a list of parameter groups."""
    call = o.node
    if not isinstance(call, ast.Call):
        return None
    params = arg(call, 0, "params")
    if params is None or (isinstance(params, (ast.List, ast.Tuple)) and any(isinstance(e, ast.Dict) for e in params.elts)):
        return None
    args = [expr if a is params else facts.code(a) for a in call.args]
    args += [(f"{k.arg}=" if k.arg else "**") + (expr if k.value is params else facts.code(k.value)) for k in call.keywords]
    text = f"{facts.code(call.func)}({', '.join(args)})"
    return text if "\n" not in text and len(text) <= 120 else None


def advice(s: Scheduler, o: flow.Event, u: flow.Event, opt: str, own: Optional[str], facts) -> str:
    """Why `add_param_group` is no answer here, and what to write instead."""
    why = (
        f"`{opt}.add_param_group` is no fix here: {_named(s)} ({s.made}) was built over the groups `{opt}` had, "
        f"and with a group added (torch 2.13) {s.effect}"
    )
    expr = _params_expr(o, u, own, facts)
    call = _rebuilt_call(o, expr, facts) if expr is not None else None
    if call is not None:
        build = f"build `{opt}` over them from the start: `{opt} = {call}`"
    elif own is not None:
        build = f"build `{opt}` with the parameters of `{own}` from the start"
    else:
        build = f"build `{opt}` with the parameters this unfreezes from the start"
    return (
        f"{why}; instead {build} (frozen parameters get no `.grad` and torch's optimizers skip them, so they stay "
        f"put until unfrozen), or rebuild `{opt}` and `{s.name}` after the unfreeze (the schedule starts over)"
    )


def _named(s: Scheduler) -> str:
    return s.name if s.name == "the scheduler" else f"`{s.name}`"


def finetuning_advice(s: Scheduler, o: flow.Event, target: str) -> str:
    """A BaseFinetuning callback's unfreeze (`target`, below `pl_module`) of what `o`, a LightningModule's
    `configure_optimizers`, left out, where the scheduler it returns breaks on an added group."""
    root = flow.segments(target)[0]
    paths = [t for t, _ in o.over] + [target]
    cover = [p for p in paths if p and not any(flow.strictly_inside(p, q) for q in paths)]
    own = [python_path(".".join(["self"] + flow.segments(p)[1:])) for p in dict.fromkeys(cover)]
    over = None
    if all(own) and not any(how == flow.SUBSET for _, how in o.over) and all(flow.root(p) == root for p in cover):
        over = f"{own[0]}.parameters()" if len(own) == 1 else "[" + ", ".join(f"*{c}.parameters()" for c in own) + "]"
    where = f"over `{over}`" if over else f"with the parameters of `{target}` too"
    return (
        f"`self.unfreeze_and_add_param_group` is no fix here: {_named(s)} ({s.made}) that `configure_optimizers` "
        f"returns was built over the groups the optimizer had, and with a group added (torch 2.13) {s.effect}; "
        f"instead build the optimizer in `configure_optimizers` {where} and keep this unfreeze (frozen parameters get "
        f"no `.grad` and torch's optimizers skip them, so they stay put until unfrozen)"
    )


__all__ = ["Scheduler", "breaking_scheduler", "returned_scheduler", "advice", "finetuning_advice"]
