from __future__ import annotations

import ast
import re

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.rules.base import lowered
from freezelint.static.rules import wording
from freezelint.static.rules.flow_rule import FlowRule

_WHY = {
    "DistributedDataParallel": "DDP's reducer was built for the old set of trainable parameters: it errors or the ranks silently diverge",
    "FullyShardedDataParallel": "FSDP flattened and sharded the parameters with the old `requires_grad` set",
    "fully_shard": "`fully_shard` sharded the parameters with the old `requires_grad` set",
    "torch.compile": "the compiled graph was traced with the old `requires_grad` set (guards force a recompile, or a stale graph is reused)",
    "accelerator.prepare": "`accelerator.prepare` already wrapped it (DDP/FSDP/DeepSpeed) for the old set of trainable parameters",
    "deepspeed.initialize": "DeepSpeed built its optimizer and partitions for the old set of trainable parameters",
}


# The only non-ASCII characters that re.I matches with an ASCII letter, or that lower() turns into one
# (İ, ı, ſ, the Kelvin sign): a text without them matches an ASCII pattern case-insensitively exactly
# where its lowered text holds the pattern.
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f", "\u212a")


class FreezeAfterWrap(FlowRule):
    """
    ## What it does
    Flags `requires_grad` changes on a model after it was wrapped by
    `DistributedDataParallel`, FSDP, `fully_shard`, `torch.compile`,
    `accelerator.prepare` or `deepspeed.initialize`.

    ## Why is this bad?
    The wrapper looked at which parameters require gradients when it was
    built. DDP's reducer expects a gradient for every parameter it registered,
    so freezing afterwards raises "Expected to have finished reduction" or
    lets ranks diverge; FSDP and DeepSpeed have already flattened and
    partitioned the parameters; a compiled graph has to be retraced.
    Not reported: DDP built with `find_unused_parameters=True` (its reducer
    looks for parameters without a gradient at every step, so a later freeze
    or unfreeze works, at the cost of that search), and a whole wrapped model
    frozen after the wrap (a teacher wrapped only for SyncBatchNorm).

    ## Example
    ```python
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    model = DDP(model)
    model.module[0].requires_grad_(False)
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    model[0].requires_grad_(False)
    model = DDP(model)
    ```
    """

    code = "FRZ204"
    name = "freeze-after-wrap"
    summary = "`requires_grad` changed after the model was wrapped for distribution or compiled"
    severity = Severity.WARNING
    triggers = ("DistributedDataParallel", "DDP", "FSDP", "FullyShardedDataParallel", "fully_shard", "compile", "prepare(", "deepspeed")
    # It reports a freeze or unfreeze event, and every source of one spells one of these
    # (see flow_events): most files that say `compile` change no requires_grad at all.
    _CHANGE_WORDS = ("requires_grad", "freeze", "make_trainable", "set_trainable", "toggle_grad")
    _CHANGES = re.compile("|".join(_CHANGE_WORDS), re.I)

    @classmethod
    def might_fire(cls, text: str) -> bool:
        if not super().might_fire(text):
            return False
        if not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII):
            return cls._CHANGES.search(text) is not None
        low = lowered(text)  # then a case-insensitive search is a search of the lowered text, ~20x cheaper
        return any(w in low for w in cls._CHANGE_WORDS)

    def check(self, tl: flow.Timeline) -> None:
        wraps = tl.of(flow.WRAP)
        if not wraps:
            return
        for f in tl.of(flow.FREEZE, flow.UNFREEZE):
            if f.target is None:
                continue
            for w in tl.before(f, flow.WRAP):
                if w.name == "accelerator.prepare" and _frozen_whole_before(tl, w, f.target):
                    continue  # accelerate wraps only models with trainable parameters: this one was not wrapped
                if w.name == "DistributedDataParallel" and _finds_unused(w.node):
                    continue  # the reducer looks for parameters without a gradient at every step: it copes
                if f.kind == flow.FREEZE and f.whole and any(flow.inside(n, f.target) for n in w.names):
                    continue  # the whole wrapped model frozen: a teacher or EMA copy, no gradient to reduce
                if any(flow.overlap(f.target, n) for n in w.names):
                    verb = "frozen" if f.kind == flow.FREEZE else "unfrozen"
                    who = wording.subject(tl, f, self.facts)  # the user's own expression (issue 22)
                    self.report_at(
                        f,
                        f"{who} {wording.verb(who)} {verb}{flow.describe(f)} after `{self.code_of(w.node)}` wrapped it: "
                        f"{_WHY.get(w.name, 'the wrapper saw the old set')}; change `requires_grad` before wrapping",
                    )
                    break


def _finds_unused(node) -> bool:
    """`DistributedDataParallel(..., find_unused_parameters=True)`: parameters frozen after the wrap are
    found unused at each step (and an unfreeze later is reduced again), at the cost of a graph search."""
    kw = next((k for k in getattr(node, "keywords", ()) if k.arg == "find_unused_parameters"), None)
    return kw is not None and isinstance(kw.value, ast.Constant) and kw.value.value is True


def _frozen_whole_before(tl: flow.Timeline, wrap: flow.Event, target: str) -> bool:
    """Every parameter of a wrapped model containing `target` was frozen when `accelerator.prepare` ran."""
    for name in wrap.names:
        if not flow.inside(target, name):
            continue
        states = [e for e in tl.before(wrap, flow.FREEZE, flow.UNFREEZE) if e.target and flow.inside(name, e.target) and e.whole]
        if states and states[-1].kind == flow.FREEZE and not states[-1].maybe:
            return True
    return False
