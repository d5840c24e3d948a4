"""Per-scope timelines of freeze-relevant events, shared by the FRZ1xx/FRZ2xx/FRZ3xx rules.

`timeline(facts, scope_node)` turns one function body (or the module's top
level) into an ordered list of `Event`s: freeze/unfreeze of an attribute path,
optimizer built over which parameters, add_param_group, wrap (DDP, FSDP,
torch.compile, accelerate, deepspeed), eval/train, head replaced, backward,
optimizer step, zero_grad, and global grad switches. Each event remembers the
loops and branches around it (a loop repeats it, a branch makes it "maybe"),
the grad mode it runs under and the `if` tests guarding it. Calls of functions
and methods defined in the same file are followed one level: their events are
re-targeted through the call's arguments and placed at the call site.

Targets are attribute paths ("model.backbone.layer4"), so "freeze
`model.backbone`" and "optimizer over `model.parameters()`" meet through
`inside`/`overlap`. A path segment `*` stands for "some submodule" (the loop
variable of `for m in model.modules()`), and DDP's `.module` / compile's
`._orig_mod` segments are dropped.

Timelines are built lazily, once per scope (cached per file in `flow_file`), by one
walk over that scope's own `ast` statements (nested functions, classes and
lambdas are skipped: they have timelines of their own), so the cost is linear
in file size. The rules are small queries over this (see the helpers at the end).
Events are extracted in `flow_events.py` (optimizer parameter sources in
`flow_params.py`) and built, once per scope, by `flow_file.py`; this module holds
the vocabulary, the paths and the questions rules share.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional, Set, Tuple

from freezelint.static.semantic.kinds import OPTIMIZER_CLASS_NAMES
from freezelint.static.semantic.facts import FileFacts


class EventKind(str, Enum):
    """What an event is. A `str` enum: each member equals (and hashes as) its value, so it prints, joins and
    is written to JSON as that word."""

    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    OPT = "optimizer"
    ADD_GROUP = "add_param_group"
    WRAP = "wrap"
    EVAL = "eval"
    TRAIN = "train"
    TRAIN_REPLACED = "train_replaced"  # `module.train = <no-op>`: target's train() no longer switches it back
    HEAD = "head"  # a new layer assigned below a module (`model.fc = nn.Linear(...)`)
    BACKWARD = "backward"
    STEP = "step"
    ZERO_GRAD = "zero_grad"
    GRAD_OFF = "grad_off"  # bare torch.set_grad_enabled(False)
    GRAD_ON = "grad_on"
    RUN = "run"  # a call that trains (fit/train helpers): separates phases
    FORWARD = "forward"  # a call of a module (`model(x)`), target: its path
    PASS = "pass"  # a model handed to some other call (`trainer.fit(model)`), names: the argument paths
    PEFT = "peft"  # get_peft_model / PeftModel(...) / PeftModel.from_pretrained: target the base model, names the result, value the config

    __str__ = str.__str__  # `f"{kind}"` is the word, as it was when kinds were plain strings
    __format__ = str.__format__


# the kinds by their short names, as the flow modules and rules spell them (`flow.FREEZE`)
FREEZE, UNFREEZE, OPT, ADD_GROUP, WRAP = EventKind.FREEZE, EventKind.UNFREEZE, EventKind.OPT, EventKind.ADD_GROUP, EventKind.WRAP
EVAL, TRAIN, TRAIN_REPLACED, HEAD = EventKind.EVAL, EventKind.TRAIN, EventKind.TRAIN_REPLACED, EventKind.HEAD
BACKWARD, STEP, ZERO_GRAD, GRAD_OFF, GRAD_ON = (
    EventKind.BACKWARD, EventKind.STEP, EventKind.ZERO_GRAD, EventKind.GRAD_OFF, EventKind.GRAD_ON,
)
RUN, FORWARD, PASS, PEFT = EventKind.RUN, EventKind.FORWARD, EventKind.PASS, EventKind.PEFT


# how an optimizer takes a module's parameters
ALL = "all"  # model.parameters()
FILTER = "filter"  # only those with requires_grad at build time
SUBSET = "subset"  # selected by name or another test

NO_GRAD_MODES = ("no_grad", "inference_mode")

_DROP_SEGMENTS = frozenset({"module", "_orig_mod"})
_OPTIMIZER_CLASSES = OPTIMIZER_CLASS_NAMES
# Every rule needs at least one event that one of these words produces (FREEZE/UNFREEZE,
# EVAL/TRAIN, BACKWARD, GRAD_OFF, PEFT); scopes without any of them get an empty timeline.
_CORE_WORDS = frozenset(
    {
        "requires_grad", "requires_grad_", "freeze", "unfreeze", "make_trainable", "unfreeze_and_add_param_group",
        "eval", "train", "backward", "manual_backward", "set_grad_enabled", "get_peft_model", "PeftModel",
    }
)
# A same-file helper can contribute events to its callers only if its own words include one of these.
_HELPER_WORDS = _CORE_WORDS | _OPTIMIZER_CLASSES | frozenset(
    {
        "optim", "add_param_group", "zero_grad", "step", "prepare", "initialize", "compile", "fully_shard",
        "DistributedDataParallel", "FullyShardedDataParallel", "DDP", "FSDP",
    }
)
_HELPER_WORD_PREFIXES = ("freeze", "_freeze", "unfreeze", "_unfreeze", "set_requires_grad", "requires_grad", "set_trainable", "toggle_grad")


@dataclass
class Event:
    kind: EventKind
    node: ast.AST  # what a finding points at
    stmt: Optional[ast.stmt]  # the enclosing statement (its first line takes `# noqa`)
    index: int = 0
    target: Optional[str] = None  # attribute path ("model.backbone"); None: unknown
    whole: bool = True  # FREEZE/UNFREEZE: every parameter of target (not a name-selected subset)
    loops: Tuple[int, ...] = ()  # ids of enclosing loop nodes, outermost first
    branches: Tuple[Tuple[int, int], ...] = ()  # (if/except/match id, arm id) of each enclosing branch
    guards: Tuple[ast.expr, ...] = ()  # enclosing `if` tests
    grad: Optional[str] = None  # "no_grad" / "inference_mode" when under such a block
    name: Optional[str] = None  # OPT: the name it is bound to; WRAP: wrapper kind; STEP/ZERO_GRAD/ADD_GROUP: receiver
    over: Tuple[Tuple[Optional[str], str], ...] = ()  # OPT: (module path, ALL/FILTER/SUBSET)
    names: Tuple[str, ...] = ()  # WRAP: paths of the wrapped model and the names bound to the result
    mode: Optional[bool] = None  # TRAIN: mode; ZERO_GRAD: set_to_none (None: default)
    value: Optional[ast.expr] = None  # BACKWARD: the tensor; FREEZE via loop: the loop-name variable
    name_var: Optional[str] = None  # FREEZE/UNFREEZE from a named_* loop: the name variable
    via: Optional[str] = None  # the same-file helper the event came from

    @property
    def maybe(self) -> bool:
        return bool(self.branches)


@dataclass
class Timeline:
    node: ast.AST  # ast.Module, FunctionDef or AsyncFunctionDef
    func_name: Optional[str]
    events: List[Event] = field(default_factory=list)
    # name -> [assigned under no_grad?] for plain-name assignments in this scope
    assigned: Dict[str, List[bool]] = field(default_factory=dict)
    terminated: Set[int] = field(default_factory=set)  # ids of branch arms that end in return/raise

    def apart(self, a: Event, b: Event) -> bool:
        """a and b never run in this order on one path: other arms of an `if`, or the first one's arm exits."""
        if exclusive(a, b):
            return True
        first, second = (a, b) if a.index < b.index else (b, a)
        if not self.terminated or not first.branches:
            return False
        second_arms = {arm for _, arm in second.branches}
        return any(arm in self.terminated and arm not in second_arms for _, arm in first.branches)

    def of(self, *kinds: str) -> List[Event]:
        return [e for e in self.events if e.kind in kinds]

    # Orderings skip events that never run in that order with the reference event (see `apart`).
    def after(self, event: Event, *kinds: str) -> List[Event]:
        return [e for e in self.events if e.index > event.index and e.kind in kinds and not self.apart(e, event)]

    def before(self, event: Event, *kinds: str) -> List[Event]:
        return [e for e in self.events if e.index < event.index and e.kind in kinds and not self.apart(e, event)]

    def between(self, a: Event, b: Event, *kinds: str) -> List[Event]:
        return [
            e for e in self.events
            if a.index < e.index < b.index and e.kind in kinds and not self.apart(e, a) and not self.apart(e, b)
        ]


def exclusive(a: Event, b: Event) -> bool:
    """The two events sit on different arms of the same `if`/`elif`/`else`: at most one of them runs."""
    if not a.branches or not b.branches:
        return False
    arms = dict(a.branches)
    return any(c in arms and arms[c] != arm for c, arm in b.branches)


# --- paths ------------------------------------------------------------------


def segments(path: str) -> List[str]:
    return path.split(".")


def inside(a: Optional[str], b: Optional[str]) -> bool:
    """Path a is b or below it (a `*` in b matches any one segment)."""
    if a is None or b is None:
        return False
    sa, sb = segments(a), segments(b)
    return len(sa) >= len(sb) and all(y == "*" or x == y for x, y in zip(sa, sb))


def strictly_inside(a: Optional[str], b: Optional[str]) -> bool:
    return inside(a, b) and len(segments(a)) > len(segments(b))


def overlap(a: Optional[str], b: Optional[str]) -> bool:
    """The two paths may share parameters (one contains the other)."""
    if a is None or b is None:
        return False
    return all(x == y or "*" in (x, y) for x, y in zip(segments(a), segments(b)))


def root(path: str) -> str:
    s = segments(path)
    return ".".join(s[:2]) if s[0] == "self" and len(s) > 1 else s[0]


def _normalize(parts: List[str]) -> str:
    return ".".join([parts[0]] + [p for p in parts[1:] if p not in _DROP_SEGMENTS])


# --- helpers on expressions --------------------------------------------------


def comment_near(facts: FileFacts, stmt: Optional[ast.AST]) -> str:
    """The comment on the statement's line and the comment line right above it."""
    return facts.source.comment_near(stmt) if facts.source is not None else ""


# --- shared questions the rules ask -----------------------------------------------


def class_overrides_train(facts: FileFacts, class_name: Optional[str]) -> bool:
    if class_name is None:
        return False
    return any("train" in info.body_names for info in facts.classes.get(class_name, []))


def any_class_overrides_train(facts: FileFacts) -> bool:
    return any("train" in info.body_names for infos in facts.classes.values() for info in infos)


def report_event(rule, ev: Event, message: str, node: Optional[ast.AST] = None, severity=None, codemod=None) -> None:
    """Report at an event's node, with `# noqa` read from the event's own statement."""
    rule.report(node if node is not None else ev.node, message, severity=severity, statement=ev.stmt, codemod=codemod)


def describe(ev: Event) -> str:
    """Line-free wording of where an event came from, for messages."""
    return f" (in `{ev.via}`, called here)" if ev.via else ""
