"""FRZ203's advice: Python that adds to an optimizer exactly the parameters an unfreeze gave it
none of, and never one it already holds (torch refuses a parameter in two groups:
`ValueError: some parameters appear in more than one parameter group`).

- a whole module (`model.layer4.requires_grad_(True)`): `opt.add_param_group({'params':
  model.layer4.parameters()})`;
- a filtered loop (`for name, p in model.named_parameters(): if name.startswith("layer4"):
  p.requires_grad = True`): the same loop and filter as a list, after the loop;
- a loop over distinct modules (`for block in [model.layer3, model.layer4]`): each one's
  parameters in the loop, right after its unfreeze.

A module is named as the code names it (`model.module.layer4` after `model = DDP(model)`:
the wrapper has no `layer4`). When some of those parameters may already be in the optimizer (they required grad when the
`requires_grad` filter built it), the list skips those it holds (`held`). Anything else is
worded without code. Tests run each advised line against torch (tests/test_issue22_messages.py).
"""

from __future__ import annotations

import ast
from typing import List, Optional, Tuple

from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import string_value
from freezelint.static.rules.wording import enclosing_loop, event_code, python_path, receiver, subject, written

_PARAM_LOOPS = ("parameters", "named_parameters")
_HELD = "held = {id(q) for group in %s.param_groups for q in group['params']}"


def trainable_at_build(tl: flow.Timeline, o: flow.Event, target: str) -> List[str]:
    """Paths whose parameters under `target` `o` may hold: none when `o` was built over other
    modules; for a `requires_grad` filter, those that required grad when it was built: `target`
    itself when no whole freeze before `o` covers it, else the unfreezes between the last such
    freeze and `o` that overlap it."""
    if not any(how == flow.FILTER and flow.overlap(t, target) for t, how in o.over):
        return []  # built over other modules only (FRZ203 saw no overlap): it holds none of them
    covering = [f for f in tl.before(o, flow.FREEZE) if f.whole and flow.inside(target, f.target)]
    if not covering:
        return [target]
    return [u.target for u in tl.between(covering[-1], o, flow.UNFREEZE) if u.target and flow.overlap(u.target, target)]


def _loop_guards(loop: ast.For, ev: flow.Event) -> Optional[List[ast.expr]]:
    """The `if` tests inside `loop` that the event is under (in their bodies, not `else`); None if
    one is an `else` arm or cannot be moved into a comprehension."""
    node = ev.node
    line = getattr(node, "lineno", 0)
    tests = {id(g) for g in ev.guards}
    out = []
    for n in ast.walk(loop):
        if isinstance(n, ast.If) and id(n.test) in tests:
            body = n.body
            if not (body[0].lineno <= line <= body[-1].end_lineno):
                return None  # the event is in the else arm
            out.append(n.test)
    stored = {n.id for s in loop.body for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for g in out:
        names = {n.id for n in ast.walk(g) if isinstance(n, ast.Name)}
        if names & stored or "requires_grad" in ast.dump(g) or any(isinstance(n, ast.NamedExpr) for n in ast.walk(g)):
            return None  # depends on what the loop body computes, or on the flag just changed
    return sorted(out, key=lambda g: (g.lineno, g.col_offset))


def _excluded_by_prefix(guards: List[ast.expr], name_var: Optional[str], rel: List[str]) -> bool:
    """A `name.startswith("layer4")` guard can never select a parameter named `rel...` (`fc.weight`)."""
    if not name_var or not rel or "*" in rel or any(s.startswith("[") for s in rel):
        return False
    prefix = ".".join(rel) + "."
    for g in guards:
        if not (
            isinstance(g, ast.Call) and isinstance(g.func, ast.Attribute) and g.func.attr == "startswith"
            and isinstance(g.func.value, ast.Name) and g.func.value.id == name_var and len(g.args) == 1 and not g.keywords
        ):
            continue
        arg = g.args[0]
        values = [string_value(e) for e in arg.elts] if isinstance(arg, ast.Tuple) else [string_value(arg)]
        if all(v is not None for v in values) and not any(prefix.startswith(v) or v.startswith(prefix) for v in values):
            return True
    return False


def _filtered(tl, u, o, opt, facts) -> Optional[Tuple[str, str]]:
    """(subject, advice) for an unfreeze by a filtered loop over parameters."""
    loop = enclosing_loop(tl, u)
    recv = receiver(u)
    if loop is None or not isinstance(recv, ast.Name):
        return None
    it = loop.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _PARAM_LOOPS and not it.args):
        return None
    tgt = loop.target
    param = tgt if it.func.attr == "parameters" else (tgt.elts[1] if isinstance(tgt, ast.Tuple) and len(tgt.elts) == 2 else None)
    if not (isinstance(param, ast.Name) and param.id == recv.id):
        return None
    guards = _loop_guards(loop, u)
    if not guards:
        return None
    conds = [f"({facts.code(g)})" if isinstance(g, (ast.BoolOp, ast.IfExp, ast.Lambda)) else facts.code(g) for g in guards]
    base = facts.code(it.func.value)
    held = [
        h for h in trainable_at_build(tl, o, u.target)
        if not (flow.strictly_inside(h, u.target) and _excluded_by_prefix(guards, u.name_var, flow.segments(h)[len(flow.segments(u.target)):]))
    ]
    pre = ""
    if held:
        pre = f"`{_HELD % opt}`, then "
        conds.append(f"id({recv.id}) not in held")
    comp = f"[{recv.id} for {facts.code(tgt)} in {facts.code(it)} if {' and '.join(conds)}]"
    who = f"the parameters of `{base}` selected by `{' and '.join(facts.code(g) for g in guards)}`"
    return who, f"after the loop, add them: {pre}`{opt}.add_param_group({{'params': {comp}}})`"


def _distinct_modules(loop: ast.For, facts) -> bool:
    """The loop runs over modules none of which holds another: `children()`, or a list of distinct attributes."""
    it = loop.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "children" and not it.args:
        return isinstance(loop.target, ast.Name)
    if not isinstance(it, (ast.List, ast.Tuple)) or not isinstance(loop.target, ast.Name):
        return False
    codes = [facts.code(e) for e in it.elts]
    if any(isinstance(e, ast.Starred) or python_path(c) != c for e, c in zip(it.elts, codes)):
        return False  # not plain attribute paths
    return all(a == b or not (a + ".").startswith(b + ".") for a in codes for b in codes) and len(set(codes)) == len(codes)


def _loop_paths(loop: ast.For, target: str, facts) -> List[str]:
    """The modules a loop runs over, as paths: a literal list's own elements, else the loop's `*` path."""
    if isinstance(loop.iter, (ast.List, ast.Tuple)):
        return [facts.code(e) for e in loop.iter.elts]
    return [target]


def advise(tl: flow.Timeline, u: flow.Event, o: flow.Event, opt: str, facts) -> Tuple[str, str]:
    """(what was unfrozen, in markdown; how to add it to `opt`, ending in the rebuild option)."""
    rebuild = ", or rebuild the optimizer"
    target = u.target or ""
    if not u.whole:
        got = _filtered(tl, u, o, opt, facts)
        if got is not None:
            return got[0], got[1] + rebuild
    py = written(target, event_code(tl, u), facts)  # `model.module.layer4` as written, not flow's `model.layer4`
    if u.whole and py is not None:
        if trainable_at_build(tl, o, target):
            return f"`{py}`", (
                f"add those `{opt}` lacks: `{_HELD % opt}`, then "
                f"`{opt}.add_param_group({{'params': [q for q in {py}.parameters() if id(q) not in held]}})`{rebuild}"
            )
        return f"`{py}`", f"add them with `{opt}.add_param_group({{'params': {py}.parameters()}})`{rebuild}"
    who = subject(tl, u, facts)
    loop = enclosing_loop(tl, u)
    recv = receiver(u)
    if (
        py is None and loop is not None and isinstance(recv, ast.Name) and isinstance(loop.target, ast.Name)
        and loop.target.id == recv.id and _distinct_modules(loop, facts)
        and not any(trainable_at_build(tl, o, p) for p in _loop_paths(loop, target, facts))
    ):
        return who, (
            f"in the loop, after `{facts.code(u.node)}`, add `{opt}.add_param_group({{'params': {recv.id}.parameters()}})`{rebuild}"
        )
    return who, (
        f"add the parameters it unfroze with `{opt}.add_param_group(...)`, each once and only those `{opt}` lacks "
        f"(a parameter in two groups is an error){rebuild}"
    )


__all__ = ["advise", "trainable_at_build"]
