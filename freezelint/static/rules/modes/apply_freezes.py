"""FRZ106's `model.apply(fn)` form (not a rule module: the name does not start with `frz`).

`model.apply(freeze_backbone)` with `def freeze_backbone(m)` freezing the parameters of the modules
it selects (`'EfficientNet' in m.__class__.__name__`, `isinstance(m, Backbone)`) and putting none of
them in eval mode: when training follows and the selected modules hold BatchNorm
(`module_filters`), their running statistics keep updating at every step. Silent when anything
puts part of the model in eval mode (`model.apply(set_bn_eval)` after `model.train()`, the standard
fix), when the model's class keeps modes in its `train()`, or when the selection is unclear.
"""

from __future__ import annotations

import ast
from typing import Optional

from freezelint.static.flow import timeline as flow
from freezelint.static.flow import module_filters
from freezelint.static.parse.astutil import method_name


def report_apply_freezes(rule, tl: flow.Timeline, done: set, advice: str) -> None:
    for e in tl.of(flow.FREEZE):
        call = e.node
        if e.via is None or not e.target or not e.target.endswith(".*") or e.target in done:
            continue
        if not (isinstance(call, ast.Call) and method_name(call) == "apply" and call.args):
            continue
        root = e.target[:-2]
        if any(ev.node is call for ev in tl.of(flow.EVAL)) or not tl.after(e, flow.BACKWARD, flow.STEP, flow.RUN):
            continue  # the function also puts them in eval mode, or no training follows here
        if _modes_kept(rule, tl, root) or _class_keeps_modes(rule, tl, call.func.value) is not False:
            continue
        fn = call.args[0]
        if not isinstance(fn, (ast.Name, ast.Lambda)):
            continue
        sel = _lambda_selected(rule, fn) if isinstance(fn, ast.Lambda) else _selected(rule, rule.facts.functions.get(fn.id, [None])[0])
        if sel is None:
            continue
        if sel.every:
            holds = rule.holds_batchnorm(tl, root)
        else:
            holds = module_filters.holds_batchnorm(sel, rule.facts.project.class_table)
        if holds is not True:
            continue
        done.add(e.target)
        if isinstance(fn, ast.Lambda):
            code, where = f"{rule.code_of(call.func)}(lambda {fn.args.args[0].arg}: ...)", "the lambda"
        else:
            code, where = rule.code_of(call), f"`{fn.id}`"
        trains = [t for t in tl.after(e, flow.TRAIN) if t.mode is not False and t.target and flow.inside(root, t.target)]
        when = f"at every `{rule.code_of(trains[0].node)}`" if trains else "while the model trains"
        rule.report_at(
            e,
            f"`{code}` freezes {sel.describe()} below `{root}` but puts none of them in eval mode: they hold "
            f"BatchNorm layers, which {when} normalise with batch statistics and overwrite their running "
            f"statistics (the frozen part still changes); call `m.eval()` in {where} next to the freeze and "
            f"run `{code}` again after every `{root}.train()`, {advice}",
            node=call,
        )


def _lambda_selected(rule, fn: ast.Lambda) -> Optional[module_filters.Selection]:
    """`lambda m: m.requires_grad_(False) if isinstance(m, Backbone) else None` (flow_calls._apply_lambda)."""
    guards = (fn.body.test,) if isinstance(fn.body, ast.IfExp) else ()
    return module_filters.selection(rule.facts, fn, guards)


def _selected(rule, fdef) -> Optional[module_filters.Selection]:
    """What the function's freezes of its module select (one answer for all of them, or None)."""
    if fdef is None or not (fdef.args.posonlyargs + fdef.args.args):
        return None
    param = (fdef.args.posonlyargs + fdef.args.args)[0].arg
    sub = rule.flow.timeline(fdef, follow=False)
    got = {module_filters.selection(rule.facts, fdef, f.guards) for f in sub.of(flow.FREEZE) if f.target == param and f.whole}
    return got.pop() if len(got) == 1 else None


def _modes_kept(rule, tl: flow.Timeline, root: str) -> bool:
    """Something puts part of `root` in eval mode (the author manages modes), or the whole of it is put
    in eval mode and not switched back to training (a validation pass is switched back)."""
    for ev in tl.of(flow.EVAL):
        if not ev.target:
            return True
        if ev.target != root and flow.overlap(ev.target, root):
            if flow.strictly_inside(ev.target, root) or ev.target.endswith(".*"):
                return True
        if flow.inside(root, ev.target) and not any(
            t.mode is not False and t.target and flow.inside(root, t.target)
            and (t.index > ev.index or set(t.loops) & set(ev.loops)) and not tl.apart(t, ev)
            for t in tl.of(flow.TRAIN)
        ):
            return True
    return False


def _class_keeps_modes(rule, tl: flow.Timeline, recv: ast.expr) -> Optional[bool]:
    scope = rule.facts.scope_of.get(id(tl.node), rule.facts.module_scope)
    k = rule.facts.kind_of(recv, scope)
    if not k.is_module() or not isinstance(k.detail, str):
        return None
    return rule.facts.project.train_keeps_modes(k.detail)
