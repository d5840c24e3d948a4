from __future__ import annotations

import ast
from functools import cached_property
from typing import Dict, FrozenSet, List, Optional

from freezelint.findings import Applicability, Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.parse.astutil import FUNCTION_NODES, dotted_name
from freezelint.static.fix.codemods import plans
from freezelint.static.semantic.project_modes import ctor_holds_batchnorm
from freezelint.static.rules import wording
from freezelint.static.rules.modes.bn_eval_advice import OUTS, as_written, eval_advice, kept_training
from freezelint.static.rules.flow_rule import FlowRule
from freezelint.static.summaries.modes import is_batchnorm_class_name

# names a guard may test and still hold whenever the model trains (`if mode:` in train())
_ALWAYS_GUARDS = frozenset({"mode", "training", "self"})
class FrozenBatchNormLeftTraining(FlowRule):
    """
    ## What it does
    Flags a module holding BatchNorm layers whose parameters are frozen
    while it stays in training mode, where the code shows the intent to fix
    it: a freeze function that puts the other modules it freezes in eval mode
    but not this one (the stem frozen, never `eval()`'d), and a
    `freeze_bn`-style helper that calls `.eval()` only when the module passed
    is itself a BatchNorm, called with a whole stage, and `model.apply(fn)`
    (a function or a lambda) freezing the modules `fn` selects by `isinstance`
    or by class name (`'Backbone' in m.__class__.__name__`) without putting
    them in eval mode, with training after it; also a module frozen before
    training (directly, or through a helper of any file whose body freezes
    its argument: `freeze_net_layers(net.base_net)`) that nothing puts in
    eval mode, in a file that calls `eval()` somewhere. Whether a module holds
    BatchNorm is read from its construction: torch.nn classes, the project's
    classes in any file (their submodules, bases, `norm_cfg=dict(type="BN")`
    / `norm_layer=` arguments, what every construction of the project passes
    to a stored `__init__` argument) and library classes such as ResNets.
    FrozenBatchNorm2d has no running statistics and does not count. Silent
    when the model's class overrides `train()` to keep modes of its own.

    ## Why is this bad?
    `requires_grad=False` stops the gradient, not BatchNorm: in training mode
    it normalises with batch statistics and updates `running_mean` and
    `running_var` at every forward. The module you believe frozen keeps
    changing, and its outputs drift from what the later layers were trained
    on. Keeping BatchNorm statistics live on purpose exists (Lightning's
    `train_bn=True`), so this is a warning.

    At run time: FRZ503 (frozen-buffer-changed) reports BatchNorm statistics
    of a frozen module that changed during a step.

    ## Example
    ```python
    import torch.nn as nn

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16))
            self.stage1 = nn.Sequential(nn.Conv2d(16, 16, 3), nn.BatchNorm2d(16))

        def freeze_stages(self):
            for param in self.stem.parameters():
                param.requires_grad = False
            self.stage1.eval()
            for param in self.stage1.parameters():
                param.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16))
            self.stage1 = nn.Sequential(nn.Conv2d(16, 16, 3), nn.BatchNorm2d(16))

        def freeze_stages(self):
            self.stem.eval()
            for param in self.stem.parameters():
                param.requires_grad = False
            self.stage1.eval()
            for param in self.stage1.parameters():
                param.requires_grad = False
    ```

    ## Fix safety
    Unsafe, as keeping BatchNorm statistics live can be deliberate. A module
    frozen in a class gets a `train(self, mode=True)` override that calls
    `super().train(mode)`, then `self.x.eval()`, and returns `self` (or the line
    goes into the class's own override after its `super().train(...)` call); in a
    script, `x.eval()` goes after each `model.train()` that follows the freeze,
    or after the freeze when nothing calls `train()` and no trainer runs; next
    to the other freezes of a freeze function, after the freeze. A
    `freeze_bn(x)` call becomes `x.apply(freeze_bn)`. When parts of `x` are set
    trainable after its freeze (the whole model frozen, then a new head:
    `model.fc = nn.Linear(...)`, or `model.fc.requires_grad_(True)`), an
    `x.eval()` alone would put them in eval mode too: the message and the
    script fix follow it with `x.fc.train()` (the message also names the
    `x.apply(set_bn_eval)` form), and no `train()` override is offered (the
    head's mode would have to follow `mode`).
    """

    code = "FRZ106"
    name = "frozen-batchnorm-left-training"
    summary = "a frozen module's BatchNorm layers stay in training mode and keep updating their statistics"
    severity = Severity.WARNING
    triggers = ("eval(",)
    fixable = "unsafe"

    def visit_Module(self, node: ast.Module) -> None:
        super().visit_Module(node)
        from freezelint.static.rules.train_sites import report_frozen_batchnorm_live

        report_frozen_batchnorm_live(self)  # a trainer's `model.train()` after a construction froze BatchNorm

    def check(self, tl: flow.Timeline) -> None:
        done: set = set()  # targets reported in this timeline: one finding each
        self._partial_eval(tl, done)
        self._bn_only_helper_calls(tl)
        self._never_evaluated(tl, done)
        from freezelint.static.rules.modes.apply_freezes import report_apply_freezes

        report_apply_freezes(self, tl, done, OUTS)  # `model.apply(freeze_fn)`: the modules fn selects

    # -- frozen before training, and nothing in the file ever puts it (or an ancestor) in eval mode
    def _never_evaluated(self, tl: flow.Timeline, done: set) -> None:
        freezes = [f for f in tl.of(flow.FREEZE) if f.target and f.whole and "*" not in f.target and self._known_freeze(tl, f)]
        if not freezes:
            return
        scope = self.facts.scope_of.get(id(tl.node))
        own = [e.target for e in tl.of(flow.EVAL) if e.target]
        for f in freezes:
            if f.target in done or any(flow.overlap(f.target, t) for t in own) or not self._trains_after(tl, f):
                continue
            # the whole class's timelines only now: most freezes are settled by the cheap checks
            others = self._class_eval_targets(scope.class_name if scope is not None else None)
            if any(flow.overlap(f.target, t) for t in others) or self.holds_batchnorm(tl, f.target) is not True:
                continue
            if self._owner_keeps_modes(tl, f.target):
                continue
            done.add(f.target)
            keep = kept_training(tl, f)
            own = self._written(tl, f)
            self.report_at(
                f,
                f"`{own}` is frozen but nothing puts it in eval mode: it holds BatchNorm layers, whose running "
                f"statistics keep updating whenever the model trains (the frozen module still changes); "
                f"{eval_advice(own, as_written(keep, f.target, own), 'call', ' after every `model.train()`')}, {OUTS}",
                codemod=plans.eval_after_train(self.facts, tl, f, self._class_of(tl), keep, module=own),
            )

    def _written(self, tl: flow.Timeline, f: flow.Event) -> str:
        """The module an event acts on as the code writes it (`model.module.backbone` after `model = DDP(model)`)."""
        return wording.written(f.target, wording.event_code(tl, f), self.facts) or f.target

    def _owner_keeps_modes(self, tl: flow.Timeline, target: str) -> bool:
        """`net.backbone` where `net`'s class (or a base) overrides `train()` to keep modes of its own
        (`self.backbone.train(False)` there): what it keeps in eval is its own call, not ours."""
        segs = flow.segments(target)
        if len(segs) < 2 or segs[0] == "self":
            return False
        cls = self._class_of_name(segs[0], self.facts.scope_of.get(id(tl.node), self.facts.module_scope))
        return cls is not None and self.facts.project.train_keeps_modes(cls) is True

    def _known_freeze(self, tl: flow.Timeline, f: flow.Event) -> bool:
        """A freeze written here, or through a helper whose body says what it does (this file's, spliced, or
        another file's summary) with the model trained after it here (a step, a backward, a `train()`, a
        training call; an optimizer alone is not enough); not one inferred from a helper's name alone."""
        if f.via is None:
            return True
        if not tl.after(f, flow.BACKWARD, flow.STEP, flow.RUN, flow.TRAIN):
            return False
        call = f.node
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == f.via):
            return False  # a method's or `.apply`'s: its own checks
        if len(self.facts.functions.get(f.via, ())) == 1:
            return True
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        qual = self.facts.qualified(call.func, scope) or f.via
        return bool(self.facts.project.function_effects(qual))

    @cached_property
    def _class_evals(self) -> Dict[str, List[str]]:
        """Class name -> `_class_eval_targets`, filled at each class's first ask (one rule instance per file)."""
        return {}

    def _class_eval_targets(self, class_name: Optional[str]) -> List[str]:
        """`self.*` paths put in eval by any method of the class (other classes' `self` is another object)."""
        if class_name is None:
            return []
        cache = self._class_evals
        if class_name not in cache:
            # the timelines of this class's functions only, in the order all_timelines() lists them
            cache[class_name] = [
                e.target
                for defs in self.facts.functions.values()
                for d in defs
                if getattr(self.facts.scope_of.get(id(d)), "class_name", None) == class_name
                for e in self.flow.timeline(d).of(flow.EVAL)
                if e.target and e.target.startswith("self")
            ]
        return cache[class_name]

    def _trains_after(self, tl: flow.Timeline, f: flow.Event) -> bool:
        """Training follows the freeze in this function, or the freeze is part of building a Module
        (its `__init__`) whose class and bases leave train() alone."""
        if tl.after(f, flow.BACKWARD, flow.STEP, flow.RUN, flow.OPT):
            return True
        scope = self.facts.scope_of.get(id(tl.node))
        if tl.func_name != "__init__" or scope is None or scope.class_name is None or not f.target.startswith("self."):
            return False
        name = f"{self.facts.module_name}.{scope.class_name}" if self.facts.module_name else scope.class_name
        return self.facts.project.train_keeps_modes(name) is False

    # -- a freeze function that evals the other modules it freezes, not this one
    def _partial_eval(self, tl: flow.Timeline, done: set) -> None:
        # a helper's own events are checked in its own timeline
        freezes = [f for f in tl.of(flow.FREEZE) if f.target and f.whole and "*" not in f.target and f.via is None]
        evals = [e for e in tl.of(flow.EVAL) if e.target and e.via is None]
        if len(freezes) < 2 or not evals:
            return
        evaluated = [f for f in freezes if any(flow.overlap(f.target, e.target) for e in evals)]
        if not evaluated:
            return
        cls = self._class_of(tl)
        for f in freezes:
            if f in evaluated or f.target in done or any(flow.inside(f.target, e.target) for e in evals):
                continue
            if any(flow.inside(e.target, f.target) for e in evals):
                continue  # some of it is put in eval here: the author chose which parts
            if self._evaluated_in_train(cls, f.target) or self.holds_batchnorm(tl, f.target) is not True:
                continue
            done.add(f.target)
            others = sorted({self._written(tl, e) for e in evals if any(flow.overlap(g.target, e.target) for g in evaluated)})
            keep = kept_training(tl, f)
            own = self._written(tl, f)
            self.report_at(
                f,
                f"`{own}` is frozen here but, unlike `{others[0]}`{' and the others' if len(others) > 1 else ''} "
                f"frozen in this function, never put in eval mode: it holds BatchNorm layers, whose running "
                f"statistics keep updating in training mode (the frozen module still changes); "
                f"{eval_advice(own, as_written(keep, f.target, own), 'add')} and {OUTS}",
                codemod=None if keep else plans.eval_after_freeze(f, own),
            )

    def _evaluated_in_train(self, cls: Optional[ast.ClassDef], target: str) -> bool:
        """The class's own train() puts `target` (or an ancestor) in eval whenever it trains."""
        if cls is None or not target.startswith("self"):
            return False
        for m in cls.body:
            if isinstance(m, FUNCTION_NODES) and m.name == "train":
                for e in flow_file.timeline(self.facts, m).of(flow.EVAL):
                    if flow.inside(target, e.target) and all(_guard_always(g) for g in e.guards):
                        return True
        return False

    # -- `freeze_bn(m)`: eval() only if m itself is a BatchNorm, called with a whole stage
    @cached_property
    def _bn_only_helpers(self) -> FrozenSet[str]:
        """The functions of this file (one definition) that put their argument in eval only when it is itself a
        BatchNorm; found at the first timeline that asks (the runner keeps one rule instance per file)."""
        return frozenset(
            name for name, defs in self.facts.functions.items()
            if len(defs) == 1 and {"eval", "isinstance"} <= self.facts.scope_words.get(id(defs[0]), set())
            and _evals_only_a_batchnorm_argument(defs[0])
        )

    def _bn_only_helper_calls(self, tl: flow.Timeline) -> None:
        helpers = self._bn_only_helpers
        if not helpers:
            return
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        for node in _own_calls(tl.node):
            if not isinstance(node.func, ast.Name) or not node.args or isinstance(node.args[0], ast.Starred):
                continue
            if node.func.id not in helpers:
                continue
            defs = self.facts.functions[node.func.id]
            arg = node.args[0]
            path = dotted_name(arg)
            if path is None or self._is_batchnorm_itself(arg, scope):
                continue
            if self.holds_batchnorm(tl, path) is not True:
                continue
            apply = f"{path}.apply({defs[0].name})"
            alone = len(node.args) == 1 and not node.keywords and defs[0].name == node.func.id
            self.report(
                node,
                f"`{defs[0].name}` calls `.eval()` only when its argument is itself a BatchNorm layer; `{path}` is "
                f"not one but holds some, so they stay in training mode and keep updating their statistics; use "
                f"`{apply}` (or loop over `{path}.modules()`) and {OUTS}",
                replace=(node, apply) if alone and plans.plain_path(path) else None,
                applicability=Applicability.UNSAFE,
                fix_message=f"call `{apply}`",
            )

    def _is_batchnorm_itself(self, arg: ast.AST, scope) -> bool:
        k = self.facts.kind_of(arg, scope)
        return isinstance(k.detail, str) and is_batchnorm_class_name(k.detail)

    # -- what holds BatchNorm
    def holds_batchnorm(self, tl: flow.Timeline, path: str) -> Optional[bool]:
        """Does the module at `path` (in this timeline's scope) hold a live BatchNorm?"""
        segs = flow.segments(path)
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        table = self.facts.project.class_table
        if segs[0] == "self":
            cls: Optional[str] = scope.class_name
            if cls is None:
                return None
            cls = f"{self.facts.module_name}.{cls}" if self.facts.module_name else cls
        else:
            cls = self._class_of_name(segs[0], scope)
        rest = segs[1:]
        while cls is not None and rest:
            q = table.find(cls)
            if q is None:
                return None
            if len(rest) == 1:
                return table.holds_batchnorm(q, rest[0])
            cls = dict(table.classes[q].attrs).get(rest[0])
            rest = rest[1:]
        return ctor_holds_batchnorm(cls, table) if cls else None

    def _class_of_name(self, name: str, scope) -> Optional[str]:
        """The class (project short name or qualified library class/factory) a local name is built from."""
        bindings = self.facts.lookup(name, scope)
        if not bindings or len(bindings) != 1 or bindings[0].expr is None or bindings[0].iterate:
            return None
        b = bindings[0]
        k = self.facts.kind_of(b.expr, b.scope)
        if k.is_module() and isinstance(k.detail, str):
            return k.detail
        if isinstance(b.expr, ast.Call):
            return self.facts.qualified(b.expr.func, b.scope)
        return None

    def _class_of(self, tl: flow.Timeline) -> Optional[ast.ClassDef]:
        scope = self.facts.scope_of.get(id(tl.node))
        if scope is None or scope.class_name is None:
            return None
        infos = self.facts.classes.get(scope.class_name, [])
        return infos[0].node if len(infos) == 1 else None


def _guard_always(test: ast.AST) -> bool:
    names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(test) if isinstance(n, ast.Attribute)
    }
    return names <= _ALWAYS_GUARDS


def _own_calls(fn: ast.AST) -> List[ast.Call]:
    out: List[ast.Call] = []
    stack = list(getattr(fn, "body", []))
    while stack:
        n = stack.pop()
        if isinstance(n, FUNCTION_NODES + (ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(n, ast.Call):
            out.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return out


def _evals_only_a_batchnorm_argument(fn: ast.AST) -> bool:
    """`def freeze_bn(m): if isinstance(m, nn.BatchNorm2d): m.eval()` with no walk over `m`'s submodules."""
    if not isinstance(fn, FUNCTION_NODES) or not fn.args.args:
        return False
    param = fn.args.args[0].arg
    guarded_eval = False
    for n in ast.walk(fn):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            if n.func.attr in ("modules", "children", "named_modules", "named_children", "apply"):
                return False
        if isinstance(n, ast.If) and _isinstance_batchnorm(n.test, param):
            guarded_eval = guarded_eval or any(
                isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "eval"
                and isinstance(c.func.value, ast.Name) and c.func.value.id == param
                for s in n.body for c in ast.walk(s)
            )
    return guarded_eval


def _isinstance_batchnorm(test: ast.AST, param: str) -> bool:
    if not (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"):
        return False
    if len(test.args) != 2 or not (isinstance(test.args[0], ast.Name) and test.args[0].id == param):
        return False
    classes = test.args[1].elts if isinstance(test.args[1], ast.Tuple) else [test.args[1]]
    return any(is_batchnorm_class_name(dotted_name(c) or "") for c in classes)
