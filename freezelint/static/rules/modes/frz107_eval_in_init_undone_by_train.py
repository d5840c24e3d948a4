from __future__ import annotations

import ast
from functools import cached_property
from typing import Dict, List, Optional, Set, Tuple

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.fix.codemods import plans
from freezelint.static.fix.codemods.requests import Codemod, KeepInTrain, train_override
from freezelint.static.rules.base import Rule


def not_self_mentions(module: ast.Module) -> Dict[str, int]:
    """How often each name is spelled as an attribute of something other than `self`, file-wide."""
    out: Dict[str, int] = {}
    for n in ast.walk(module):
        if isinstance(n, ast.Attribute) and not (isinstance(n.value, ast.Name) and n.value.id == "self"):
            out[n.attr] = out.get(n.attr, 0) + 1
    return out


def init_only_methods(cls: ast.ClassDef, elsewhere: Dict[str, int]) -> Dict[str, ast.AST]:
    """`__init__` and the private methods reached only from it (`self._freeze_stages()` called from
    `__init__` and nowhere else in the file; `elsewhere` from `not_self_mentions`)."""
    methods = {m.name: m for m in cls.body if isinstance(m, FUNCTION_NODES)}
    if "__init__" not in methods:
        return {}
    uses: Dict[str, List[ast.AST]] = {}  # method name -> the methods of this class that spell `self.<it>`
    for name, m in methods.items():
        for n in ast.walk(m):
            if isinstance(n, ast.Attribute) and n.attr in methods and isinstance(n.value, ast.Name) and n.value.id == "self":
                uses.setdefault(n.attr, []).append(m)
    # `self.x` in other classes is another object; any other spelling (`model._freeze()`) may be a call
    mentions = {name: len(uses.get(name, [])) + elsewhere.get(name, 0) for name in methods}
    out = {"__init__": methods["__init__"]}
    changed = True
    while changed:
        changed = False
        for name, m in methods.items():
            if name in out or not name.startswith("_") or name.startswith("__") or m.decorator_list:
                continue  # a public method may be called from other files
            callers = uses.get(name, [])
            if callers and all(c.name in out for c in callers) and mentions.get(name, 0) == len(callers):
                out[name] = m
                changed = True
    return out


def _wraps_attrs(expr: Optional[ast.expr], attrs: Set[str]) -> bool:
    """A call whose only Module-like arguments are `self.<attr>` of `attrs` (`Wrapper(self.model, cfg)`)."""
    if not isinstance(expr, ast.Call):
        return False
    args = list(expr.args) + [k.value for k in expr.keywords]
    selfs = [a for a in args if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == "self"]
    return bool(selfs) and all(a.attr in attrs for a in selfs) and not any(
        isinstance(a, ast.Call) for a in args)  # `Wrapper(self.model, Head())`: a new part too


def _reapply(method: str, found: List[flow.Event], plain: Dict[str, Optional[ast.expr]], init: ast.AST) -> Optional[Tuple[str, ...]]:
    """What a `train()` override runs again: the init-only helper when `__init__` always calls it with no
    argument, or under a condition on `self` it can test again (`plain`); else the evals of `__init__`
    themselves, when each ran always or under such a condition. None otherwise (`if freeze_bn:
    self.bn.eval()` on a constructor argument, `self._prepare(freeze_params)`)."""
    if method in plain:
        return (plans.guarded(f"self.{method}()", plain[method]),)
    if method != "__init__":
        return None
    out = []
    for x in found:
        test = None
        if x.maybe:
            guard = plans.top_level_if(init, x.stmt)
            if guard is None or len(x.branches) != 1 or not plans.self_only(guard.test):
                return None
            test = guard.test
        out.append(plans.guarded(f"{x.target}.eval()", test))
    return tuple(out)


def plainly_called(methods: Dict[str, ast.AST]) -> Dict[str, Optional[ast.expr]]:
    """The init-only helpers run with no argument at every construction, or under a condition on `self`
    (-> that condition): each call of them is a statement `self.<name>()` at the top of `__init__`'s body
    or of a helper that always runs; or the only call is such a statement in the body of an `if` at the
    top of `__init__`'s body whose test `plans.self_only` accepts."""
    calls: Dict[str, List[Tuple[str, Optional[ast.expr], bool]]] = {}  # helper -> (caller, condition, plain?)
    for caller, m in methods.items():
        top: Dict[int, Optional[ast.expr]] = {}
        for s in getattr(m, "body", ()):
            if isinstance(s, ast.Expr):
                top[id(s.value)] = None
            elif caller == "__init__" and isinstance(s, ast.If) and plans.self_only(s.test):
                top.update((id(b.value), s.test) for b in s.body if isinstance(b, ast.Expr))
        for n in ast.walk(m):
            if (
                isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in methods
                and isinstance(n.func.value, ast.Name) and n.func.value.id == "self"
            ):
                ok = id(n) in top and not n.args and not n.keywords
                calls.setdefault(n.func.attr, []).append((caller, top.get(id(n)), ok))
    out: Dict[str, Optional[ast.expr]] = {}
    changed = True
    while changed:
        changed = False
        for name, got in calls.items():
            if name in out or name == "__init__" or not all(ok for _, _, ok in got):
                continue
            if all(test is None and (c == "__init__" or (c in out and out[c] is None)) for c, test, _ in got):
                out[name] = None
            elif len(got) == 1 and got[0][0] == "__init__":
                out[name] = got[0][1]
            else:
                continue
            changed = True
    return out


class EvalInInitUndoneByTrain(Rule):
    """
    ## What it does
    Flags `.eval()` on `self` or a submodule in `__init__` (or in a method
    called only from `__init__`, such as a `_freeze_stages()` helper), in an
    nn.Module class where neither the class nor any of its base classes (in
    any file of the project, or a library) overrides `train()` to put it back
    in eval mode, and nothing replaces the submodule's `train`
    (`self.vae.train = disabled_train`).

    ## Why is this bad?
    Eval mode set at construction lasts until the first `model.train()`, and
    every training loop calls it: a hand-written loop at each epoch, and
    Lightning, the HF Trainer and mmengine's runner before training starts.
    `train()` is recursive, so the frozen layers run dropout and drop-path
    again, and their BatchNorm layers update their running statistics. (A
    `train()` call you can see in the same function is FRZ102.)

    At run time: FRZ503 (frozen-buffer-changed) reports the BatchNorm
    statistics of a frozen module that changed during a step.

    ## Example
    ```python
    import torch.nn as nn
    import torchvision

    class Classifier(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.backbone = torchvision.models.resnet18(weights="DEFAULT")
            self.backbone.requires_grad_(False)
            self.backbone.eval()
            self.head = nn.Linear(1000, num_classes)
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torchvision

    class Classifier(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.backbone = torchvision.models.resnet18(weights="DEFAULT")
            self.backbone.requires_grad_(False)
            self.head = nn.Linear(1000, num_classes)

        def train(self, mode=True):
            super().train(mode)
            self.backbone.eval()  # stays in eval mode whatever the trainer does
            return self
    ```

    ## Fix safety
    The fix adds the `train()` override shown above (at the end of the class;
    into the class's own pass-through override after its `super().train(...)`
    call when it has one), re-applying every `eval()` of `__init__` (or calling
    the init-only helper again, when `__init__` calls it with no argument), under
    the same `if` when it ran under a condition on `self` (`if self.frozen_stages
    > 0:`). One that ran under another condition (a constructor argument) or in
    a helper given arguments gets no fix: the override must test the same
    condition, kept on `self`. It is unsafe: the modules then stay in eval
    mode whatever the trainer does, which is the point but changes behaviour.
    """

    code = "FRZ107"
    name = "eval-in-init-undone-by-train"
    summary = "`.eval()` applied once in `__init__` is undone by the trainer's `model.train()`"
    severity = Severity.WARNING
    triggers = ("eval(", "train(False", "train(mode=False")
    fixable = "unsafe"

    @cached_property
    def _not_self_mentions(self) -> Dict[str, int]:
        """`not_self_mentions` of this file, counted at the first class that needs it (one rule instance per file)."""
        return not_self_mentions(self.facts.module)

    def visit_Module(self, node: ast.Module) -> None:
        from freezelint.static.rules.train_sites import report_evals_undone

        report_evals_undone(self)  # a trainer's `model.train()` undoing what the model's construction put in eval

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        src = self.ctx.source
        end = node.end_lineno or node.lineno
        text = src.text[src.starts[node.lineno - 1] : src.starts[end] if end < len(src.starts) else len(src.text)]
        if ".eval(" not in text and ".train(" not in text:
            return  # the cheap question first: the class's own text
        if not self._is_module_class(node) or self._keeps_modes(node):
            return
        methods = init_only_methods(node, self._not_self_mentions)
        if not methods:
            return
        replaced = flow_file.train_replaced_paths(flow_file.file_flow(self.facts))
        own_methods = {m.name for m in node.body if isinstance(m, FUNCTION_NODES)}
        reported: Set[int] = set()
        per_method = []
        for name, method in methods.items():
            tl = flow_file.timeline(self.facts, method)
            found: List[flow.Event] = []
            for e in tl.of(flow.EVAL):
                if e.target is None or not (e.target == "self" or e.target.startswith("self.")) or e.grad:
                    continue
                if e.via is not None and e.via in own_methods:
                    continue  # an init-only method reports its own; a public one may run again later
                if any(flow.overlap(e.target, r) for r in replaced):
                    continue  # its train() is replaced by a no-op
                if any(flow.overlap(t.target, e.target) for t in tl.after(e, flow.TRAIN)):
                    continue  # switched back in __init__ itself
                if id(e.node) in reported or self._whole_instance(node, e.target):
                    continue
                reported.add(id(e.node))
                found.append(e)
            if found:
                per_method.append((name, found))
        # one override re-applies them all: fixing one finding must not hide the others (the class then overrides train())
        plain = plainly_called(methods)
        lines = [_reapply(name, found, plain, methods["__init__"]) for name, found in per_method]
        reapply = None if None in lines else tuple(dict.fromkeys(line for got in lines for line in got))
        for name, found in per_method:
            self._report(node, name, found, reapply)

    def _is_module_class(self, node: ast.ClassDef) -> bool:
        if self.facts.is_module_class(node.name):
            return True
        from freezelint.static import knowledge  # a library base (mmengine's BaseModel) the cheap list lacks

        return any(knowledge.is_module_class(self.facts.qualified(b, self.facts.module_scope) or "") for b in node.bases)

    def _whole_instance(self, cls: ast.ClassDef, target: str) -> bool:
        """eval() of the whole instance (`self`, or its only submodule): an inference wrapper (an EMA
        copy, an export or feature-extraction wrapper), not a model with frozen parts that trains."""
        if target == "self":
            return True
        infos = self.facts.classes.get(cls.name, [])
        if len(infos) != 1:
            return False
        evald = flow.segments(target)[1]
        attrs = infos[0].self_attrs
        trained = {attr for attr, bindings in attrs.items() if any(self._may_train(b) for b in bindings)}
        # `self.wrap = CFGDenoiser(self.model)`: a wrapper built around the eval'd module holds its parameters
        same = {evald}
        changed = True
        while changed:
            changed = False
            for attr in trained - same:
                if all(_wraps_attrs(b.expr, same) for b in attrs[attr]):
                    same.add(attr)
                    changed = True
        return trained <= same

    def _may_train(self, b) -> bool:
        """A binding of a self attribute that may hold trainable weights: a Module, an nn.Parameter, or
        a call of a class we cannot see (`NLayerDiscriminator(...)` from a star import)."""
        k = self.facts._binding_kind(b)
        if k.is_module():
            return True
        call = b.expr
        while isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call):
            call = call.func.value  # `Net(...).apply(init)`
        if not isinstance(call, ast.Call):
            return False
        name = (self.ctx.code(call.func) or "").rsplit(".", 1)[-1]
        if name == "Parameter":
            return True
        return k.tag == "unknown" and name[:1].isupper()

    def _keeps_modes(self, node: ast.ClassDef) -> bool:
        """The class or a base overrides train() (unknown bases count as overriding: stay silent)."""
        own = [m for m in node.body if isinstance(m, FUNCTION_NODES) and m.name == "train"]
        if own or any(
            isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "train" for t in s.targets)
            for s in node.body
        ):
            from freezelint.static.summaries.modes import train_passthrough

            if not train_passthrough(node):
                return True
        name = f"{self.facts.module_name}.{node.name}" if self.facts.module_name else node.name
        got = self.facts.project.train_keeps_modes(name)
        if got is None and not self.facts.module_name:
            got = self._local_bases_keep_modes(node)
        return got is not False

    def _local_bases_keep_modes(self, node: ast.ClassDef) -> Optional[bool]:
        """Without a project model (one text linted alone): the bases as this file spells them."""
        for b in node.bases:
            q = self.facts.qualified(b, self.facts.module_scope)
            if q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                continue
            return None
        return False

    def _report(self, cls: ast.ClassDef, method: str, found: List[flow.Event], reapply: Optional[Tuple[str, ...]]) -> None:
        """One finding per method, at its first eval(): they share one cause and one fix (`reapply`: the
        override's lines; None when the evals ran under a condition or arguments: no fix)."""
        e = found[0]
        code = f"`{self.ctx.code(e.node).strip()}`"
        if len(found) > 1:
            code += f" (and {len(found) - 1} more `eval()` here)"
        where = "in `__init__`" if method == "__init__" else f"in `{method}`, called only from `__init__`"
        what = "them" if len(found) > 1 else f"`{e.target}`"
        codemod = None
        if reapply is None:
            evals = list(dict.fromkeys(f"`{x.target}.eval()`" for x in found if "*" not in x.target))
            if len(evals) < len(found) and any("*" in x.target for x in found):
                evals.append("the other `eval()` calls")
            advice = (
                f"override `train()`: `super().train(mode)` then {' and '.join(evals)} again, only when "
                f"{'they' if len(evals) > 1 else 'it'} ran at construction (keep the condition on `self`)"
            )
        elif not any("*" in line for line in reapply):
            advice = train_override(reapply)
            codemod = Codemod(f"in `{cls.name}`, {advice}", (KeepInTrain(cls, reapply),))
        else:
            advice = train_override(reapply)
        self.report(
            e.node,
            f"{code} runs once, {where}; `{cls.name}` and its bases do not override `train()`, so the first "
            f"`model.train()` of a training loop (Lightning, the HF Trainer, mmengine) switches {what} back to "
            f"training mode (dropout and BatchNorm statistics live again); {advice}",
            statement=e.stmt,
            codemod=codemod,
        )
