from __future__ import annotations

import ast
import re
from typing import Dict, Optional, Set

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import dotted_name
from freezelint.static.fix.codemods.requests import Codemod, Insert, requires_grad_off
from freezelint.static.rules.flow_rule import FlowRule

_INTENT_COMMENT = re.compile(r"\b(freez\w*|frozen|fixed)\b", re.I)
# a comment about BatchNorm statistics or dropout: eval() is the right tool there
_MODE_COMMENT = re.compile(r"batch.?norm|\bbn\b|statistic|stats|dropout|running|inference|evaluat|valid", re.I)
# "freeze gradients/weights/parameters": the article's misconception stated outright, whatever else
# the comment says ("# Freeze gradients during evaluation" above `model.eval()`)
_GRAD_FREEZE_COMMENT = re.compile(
    r"\b(freez\w*|frozen)\b.*\b(grad\w*|weights?|param\w*|layers?)\b|\b(grad\w*|weights?|param\w*)\b.*\b(freez\w*|frozen)\b",
    re.I,
)
_MODE_NAME = re.compile(r"bn|norm|stat|dropout")
_EVAL_FUNCS = ("val", "test", "eval", "predict", "infer", "sample", "generate", "score", "export", "benchmark", "demo", "visuali")


def _words(test: ast.AST):
    """Every name spelled in the test: names, attributes, keywords, lambda parameters."""
    for n in ast.walk(test):
        if isinstance(n, ast.Name):
            yield n.id
        elif isinstance(n, ast.Attribute):
            yield n.attr
        elif isinstance(n, (ast.keyword, ast.arg)) and isinstance(n.arg, str):
            yield n.arg


def _guard_intent(tests) -> bool:
    for test in tests:
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        names: Set[str] = {w.lower() for w in _words(test)}
        if any("freez" in n or "frozen" in n for n in names):
            return True
        if negated and any(n in ("trainable", "train_backbone", "finetune", "fine_tune") for n in names):
            return True
    return False


# Flags whose name says whether a part trains (`trainable=False` freezes it in the author's mind).
_TRAINABLE_FLAGS = ("trainable", "finetune", "fine_tune", "train_backbone", "train_encoder", "tune_backbone")


def _trainable_flag(test: ast.AST) -> Optional[str]:
    """The flag a plain `if trainable:` / `if self.trainable:` tests (not negated, nothing else)."""
    name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
    return name if name and name.lower() in _TRAINABLE_FLAGS else None


def _in_body_of(func: ast.AST, test: ast.AST, stmt: ast.AST) -> bool:
    """`stmt` is in the body (not the else) of the `if` whose test is `test`."""
    for node in ast.walk(func):
        if isinstance(node, ast.If) and node.test is test:
            return any(stmt is n for b in node.body for n in ast.walk(b))
    return False


def _reads(func: ast.AST, flag: str) -> int:
    """How many times the function reads `flag` (a name or an attribute of that name)."""
    return sum(
        (isinstance(n, ast.Name) and n.id == flag and isinstance(n.ctx, ast.Load))
        or (isinstance(n, ast.Attribute) and n.attr == flag and isinstance(n.ctx, ast.Load))
        for n in ast.walk(func)
    )


class EvalAsFreeze(FlowRule):
    """
    ## What it does
    Flags `.eval()` / `.train(False)` on a module that is evidently meant to
    be frozen — the enclosing function is called `freeze*`/`fix*`, a comment
    on or above the line says freeze/frozen/fixed, a `freeze_*` flag guards
    it, its parameters go into an optimizer built afterwards, or it is a
    network loaded with pretrained weights (`torch.hub.load`,
    `from_pretrained`, `pretrained=`/`weights=`) inside a loss, put in eval
    mode in the loss's `__init__` (the class, or the class of this file that
    builds it, is named `...Loss`/`Perceptual...`/`LPIPS`, or derives from a
    torch loss): a loss's network is never trained — while nothing sets
    `requires_grad` to False for that module (in the class, for `self`). Also the other
    side of the same mistake: a `trainable` flag whose only effect is
    `if trainable: encoder.train()` in `__init__` (the encoder "frozen" by
    staying in the eval mode it was loaded in), when `__init__` reads the flag
    nowhere else and freezes nothing.

    ## Why is this bad?
    `eval()` only switches layers such as Dropout and BatchNorm to inference
    behaviour. It does not stop gradients: the module's parameters still get
    `.grad` and the optimizer keeps updating them. (Evaluation — `eval()`
    under `no_grad`, in a validation function, or undone by `train()` before
    the next step — is not flagged.)

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights="DEFAULT")
    model.layer1.eval()  # freeze the stem
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights="DEFAULT")
    model.layer1.requires_grad_(False)  # freeze the stem
    model.layer1.eval()
    optimizer = torch.optim.SGD((p for p in model.parameters() if p.requires_grad), lr=0.01)
    ```

    ## Fix safety
    The fix adds `x.requires_grad_(False)` on the line after `x.eval()` (the
    comment stays on the `eval()` line). It is unsafe: it changes what trains,
    and the `eval()` may have been meant for BatchNorm or dropout alone. No fix
    is offered when the freezes of the function sit under a condition the
    `eval()` is outside of, or when the `eval()` is on an alias of the module.
    """

    code = "FRZ101"
    name = "eval-as-freeze"
    summary = "`.eval()` used as if it froze parameters"
    severity = Severity.WARNING
    triggers = ("eval(", "train(False", "train(mode=False", "trainable", "finetune", "fine_tune")
    fixable = "unsafe"

    def check(self, tl: flow.Timeline) -> None:
        self._check_mode_only_flag(tl)
        evals = tl.of(flow.EVAL)
        if not evals:
            return
        fn = (tl.func_name or "").lower().lstrip("_")
        if fn == "train" or fn.startswith(_EVAL_FUNCS) or fn.startswith("on_val") or fn.startswith("on_test"):
            return
        frozen = self._frozen_paths(tl)
        if frozen is None:
            return  # a freeze we cannot place: stay silent
        if self._in_inference_wrapper(tl):
            return  # a predictor/evaluator class that never trains: its "frozen" model is only used for inference
        for e in evals:
            if e.target is None or e.grad or e.via is not None:
                continue
            if self._holds_no_parameters(tl, e):
                continue  # Dropout, activations, pooling: eval() is exactly right for them
            if any(f.node is e.node for f in tl.of(flow.FREEZE)):
                continue  # LightningModule.freeze() does both
            if any(flow.overlap(p, e.target) for p in frozen):
                continue
            steps = tl.after(e, flow.STEP)
            limit = steps[0].index if steps else len(tl.events)
            if any(t.index < limit and flow.overlap(t.target, e.target) for t in tl.after(e, flow.TRAIN)):
                continue  # switched back for training: evaluation
            if any(e.loops and set(t.loops) & set(e.loops) and flow.overlap(t.target, e.target) for t in tl.before(e, flow.TRAIN)):
                continue  # a loop flips train/eval each round
            trains = (flow.BACKWARD, flow.STEP, flow.RUN)
            if tl.before(e, *trains) and not tl.after(e, *trains + (flow.OPT,)):
                continue  # eval() after training, nothing trains later: the evaluation phase
            why = self._intent(tl, e, fn)
            if why is None:
                continue
            code = self.code_of(e.node)
            codemod = None
            if self._freezes_are_conditional(tl, e):
                # `_freeze_stages`: the eval() runs whatever `frozen_stages` is, the freezes only under it
                advice = (
                    f"the freezes in `{tl.func_name}` run only under a loop or condition this `eval()` is outside of: "
                    f"if `{e.target}` is meant to be frozen with them, move the `eval()` under that condition and add "
                    f"`{e.target}.requires_grad_(False)` there; if it should train, drop the `eval()`"
                )
            else:
                line = requires_grad_off(e.target)
                advice = f"add `{line}` (keep `.eval()` for fixed BatchNorm/Dropout behaviour)"
                codemod = _insert_after_eval(e, line, code)
            self.report_at(
                e,
                f"`{code}` {why} but `eval()` does not freeze: `{e.target}` still records gradients (memory and time), "
                f"and any optimizer over its parameters still updates it; {advice}",
                codemod=codemod,
            )

    def _check_mode_only_flag(self, tl: flow.Timeline) -> None:
        """`if trainable: self.encoder.train()`: the flag that says whether the encoder trains only switches
        its mode (a pretrained model loads in eval mode), and nothing in the function freezes it."""
        if tl.func_name != "__init__":
            return  # a component deciding at construction whether its pretrained part trains
        for t in tl.of(flow.TRAIN):
            if t.target is None or not t.guards or t.loops:
                continue
            flag = _trainable_flag(t.guards[-1])
            if flag is None or not _in_body_of(tl.node, t.guards[-1], t.stmt):
                continue
            if tl.of(flow.FREEZE, flow.UNFREEZE) or _reads(tl.node, flag) > 1:
                continue  # the flag (or something) sets requires_grad too, or is used beyond the mode switch
            code = self.code_of(t.node)
            self.report_at(
                t,
                f"`{flag}` only decides whether `{code}` runs, and a mode is not a freeze: with `{flag}` false "
                f"`{t.target}` is in eval mode but its parameters still get gradients and any optimizer over "
                f"them updates them; add `{t.target}.requires_grad_({flag})` (the mode switch can stay)",
            )

    @staticmethod
    def _freezes_are_conditional(tl: flow.Timeline, e: flow.Event) -> bool:
        """This function freezes other modules, each under a loop or an `if` that does not enclose the eval()."""
        freezes = [f for f in tl.of(flow.FREEZE) if f.target and not flow.overlap(f.target, e.target)]
        return bool(freezes) and all(
            (set(f.loops) - set(e.loops)) or (len(f.guards) > len(e.guards)) for f in freezes
        )

    def _in_inference_wrapper(self, tl: flow.Timeline) -> bool:
        """A method of a class that is not an nn.Module and none of whose methods build an optimizer or train."""
        scope = self.facts.scope_of.get(id(tl.node))
        cls = scope.class_name if scope is not None else None
        infos = self.facts.classes.get(cls or "")
        if not infos or len(infos) != 1 or self.facts.is_module_class(cls):
            return False
        trains = (flow.OPT, flow.BACKWARD, flow.STEP, flow.RUN, flow.ADD_GROUP)
        methods = [m for m in infos[0].node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return not any(self.flow.timeline(m).of(*trains) for m in methods)

    def _holds_no_parameters(self, tl: flow.Timeline, e: flow.Event) -> bool:
        call = e.node
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            return False
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        return self.facts.holds_no_parameters(self.facts.kind_of(call.func.value, scope))

    def _intent(self, tl: flow.Timeline, e: flow.Event, fn: str) -> Optional[str]:
        comment = flow.comment_near(self.facts, e.stmt)
        if comment and _GRAD_FREEZE_COMMENT.search(comment):
            return "is commented as freezing gradients"
        if comment and _MODE_COMMENT.search(comment):
            return None  # eval() for BatchNorm statistics or dropout: the right tool
        if fn.startswith(("freeze", "fix")) and not _MODE_NAME.search(fn):
            return f"is in `{tl.func_name}`"
        if comment and _INTENT_COMMENT.search(comment):
            return "is commented as a freeze"
        if _guard_intent(e.guards):
            return "is guarded by a freeze flag"
        if tl.func_name == "__init__" and e.target and e.target.startswith("self") and not e.guards:
            from freezelint.static.rules.modes.loss_networks import loss_network_intent

            why = loss_network_intent(self.facts, self.facts.scope_of.get(id(tl.node)), e.target)
            if why:
                return why
        for o in tl.after(e, flow.OPT):
            if any(how == flow.ALL and flow.inside(e.target, t) for t, how in o.over) and len(flow.segments(e.target)) > 1:
                if not tl.between(e, o, flow.TRAIN, flow.BACKWARD, flow.STEP):
                    return f"comes before {f'`{o.name}`' if o.name else 'an optimizer'} is built over its parameters"
        return None

    def _frozen_paths(self, tl):
        """Paths frozen in this function, plus `self.*` paths frozen anywhere in the file; None: unknown."""
        own = set()
        for f in tl.of(flow.FREEZE):
            if f.target is None:
                return None
            own.add(f.target)
        ff = self.flow
        if ff.self_frozen is None:
            ff.self_frozen = {}
            for other in ff.all_timelines():
                cls = getattr(self.facts.scope_of.get(id(other.node)), "class_name", None)
                for f in other.of(flow.FREEZE):
                    if f.target and f.target.startswith("self"):
                        ff.self_frozen.setdefault(cls, set()).add(f.target)
            ff.self_frozen.setdefault(None, set())
            for name, called in self._run_under_no_grad().items():
                ff.self_frozen.setdefault(name, set()).update(called)
        # `self` is the instance: the freezes of its class's methods and of its same-file relatives count
        cls = getattr(self.facts.scope_of.get(id(tl.node)), "class_name", None)
        related = _related_classes(self.facts, cls) if cls is not None else set(ff.self_frozen)
        return own.union(ff.self_frozen[None], *(ff.self_frozen.get(c, ()) for c in related))

    def _run_under_no_grad(self) -> Dict[str, Set[str]]:
        """Per class, the `self.x` submodules its `forward` runs inside `with torch.no_grad():` (a freeze flag's
        way to freeze), also through a method of the class called there (`self.extract_features(wav)`)."""
        from freezelint.static.flow.params import grad_mode_of

        out: Dict[str, Set[str]] = {}
        for name, infos in self.facts.classes.items():
            for info in infos:
                methods = {fn.name: fn for fn in info.node.body if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))}
                fn = methods.get("forward")
                if fn is None:
                    continue
                scope = self.facts.scope_of.get(id(fn), self.facts.module_scope)
                for w in ast.walk(fn):
                    if isinstance(w, ast.With) and any(
                        grad_mode_of(self.facts, item.context_expr, scope) in flow.NO_GRAD_MODES for item in w.items
                    ):
                        called = _self_calls(w)
                        for m in [c.split(".", 1)[1] for c in called if c.count(".") == 1]:
                            if m in methods and m != "forward":
                                called |= _self_calls(methods[m])
                        out.setdefault(name, set()).update(called)
        return out


def _self_calls(node: ast.AST) -> Set[str]:
    """The `self.x(...)` / `self.x.y(...)` callees below `node`."""
    out = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            name = flow_path(call.func)
            if name and name.startswith("self."):
                out.add(name)
    return out


def _related_classes(facts, cls: str) -> Set[Optional[str]]:
    """`cls`, its bases and its subclasses among this file's classes (by name, transitively)."""
    bases = {name: {(dotted_name(b) or "").rsplit(".", 1)[-1] for i in infos for b in i.bases} for name, infos in facts.classes.items()}
    out = {cls}
    changed = True
    while changed:
        changed = False
        for name, bs in bases.items():
            if name not in out and (bs & out or any(name in bases.get(c, ()) for c in out)):
                out.add(name)
                changed = True
    return out


def _insert_after_eval(e: flow.Event, line: str, code: str) -> Optional[Codemod]:
    """`x.requires_grad_(False)` on the line after `x.eval()` (a statement of its own, receiver spelled `x`)."""
    call = e.node
    if not (isinstance(e.stmt, (ast.Expr, ast.Assign)) and isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    if flow_path(call.func.value) != e.target:
        return None  # an alias resolved to another name: the fix would name what the line does not
    return Codemod(f"add `{line}` after `{code}`", (Insert(e.stmt, (line,)),))


def flow_path(expr: ast.AST):
    from freezelint.static.parse.astutil import dotted_name

    return dotted_name(expr)
