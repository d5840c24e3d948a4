from __future__ import annotations

import ast
from typing import List, Optional, Set, Tuple

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import grad_masks
from freezelint.static.parse.astutil import string_value
from freezelint.static.rules.flow_rule import FlowRule

_DEFAULT_DECAY = {"AdamW": "0.01"}  # classes with decoupled weight decay on by default (torch, bitsandbytes, timm)


class MaskedGradsStillDecayed(FlowRule):
    """
    ## What it does
    Flags code that keeps parameters, or rows of one (the token embeddings
    of textual inversion), fixed by writing zeros into their gradient
    between `backward()` and `optimizer.step()` (`grad[mask] = 0`,
    `grad[idx].zero_()`, `p.grad.zero_()` for selected parameters), when the
    optimizer built in the same function holds those parameters and applies
    weight decay: `AdamW` (its default `weight_decay` is 0.01), or any
    optimizer given a `weight_decay` that is not 0 (an `argparse` default
    of 0 in the same file counts as 0).

    ## Why is this bad?
    A zero gradient is still a gradient. `AdamW` shrinks every parameter it
    holds by `lr * weight_decay` at each step whatever its gradient
    (decoupled decay), and `Adam`/`SGD` add `weight_decay * p` to the zeroed
    gradient before using it: the "frozen" rows drift towards zero, a little
    at every step (diffusers#1009: the pretrained token embeddings of a
    textual-inversion run decayed). Momentum gathered before the mask also
    keeps moving them.

    The write is left alone when the same function writes the parameter
    back (`weight[rows] = orig[rows]`, `.copy_()`), or when the optimizer's
    parameter groups set their own `weight_decay`.

    At run time: FRZ502 (a parameter meant to stay fixed changed) when the
    masked parameter is declared frozen to the auditor.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    emb = nn.Embedding(100, 8)
    new_rows = torch.arange(100) >= 98
    optimizer = torch.optim.AdamW(emb.parameters(), lr=1e-3)
    for ids in torch.randint(0, 100, (10, 4)):
        emb(ids).sum().backward()
        emb.weight.grad[~new_rows] = 0
        optimizer.step()
        optimizer.zero_grad()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    emb = nn.Embedding(100, 8)
    new_rows = torch.arange(100) >= 98
    orig = emb.weight.detach().clone()
    optimizer = torch.optim.AdamW(emb.parameters(), lr=1e-3)
    for ids in torch.randint(0, 100, (10, 4)):
        emb(ids).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            emb.weight[~new_rows] = orig[~new_rows]
    ```
    A whole parameter: set `p.grad = None` instead of zeroing it
    (optimizers skip a parameter without a gradient), or
    `p.requires_grad_(False)` before the optimizer is built.
    """

    code = "FRZ210"
    name = "masked-grads-still-decayed"
    summary = "gradients zeroed to keep parameters fixed, but the optimizer's weight decay still moves them"
    severity = Severity.WARNING
    triggers = (".grad",)

    def check(self, tl: flow.Timeline) -> None:
        opts = tl.of(flow.OPT)
        steps = tl.of(flow.STEP)
        backwards = tl.of(flow.BACKWARD)
        if not opts or not steps or not backwards:
            return
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        paths = grad_masks.ParamPaths(self.flow, tl, scope)
        writes = grad_masks.grad_writes(paths, tl.node)
        if not writes:
            return
        restored = _restored_keys(paths, tl.node)
        for w in writes:
            if w.key in restored or (not w.rows and "#" not in w.key and not w.selected):
                continue
            if not any(_pos(b.node) < _pos(w.node) for b in backwards):
                continue
            for o in opts:
                if _pos(o.node) > _pos(w.node) or not isinstance(o.node, ast.Call):
                    continue
                step = next((s for s in steps if _pos(s.node) > _pos(w.node) and (o.name is None or s.name == o.name)), None)
                if step is None:
                    continue
                decay = self._decay(o.node, scope)
                if decay is None:
                    continue
                held, own_groups = _held(paths, o.node)
                if own_groups or not any(_holds(h, w.key) for h in held):
                    continue
                self._report(w, paths, o, step, decay, self._class_names(o.node.func, scope))
                break

    def _report(self, w, paths, o: flow.Event, step: flow.Event, decay: str, classes: List[str]) -> None:
        # the parameter as the user wrote it; of several bindings (`.module` under DDP, or not), the shortest
        texts = [self.ctx.code(p).strip() for p in paths.grad_params(w.grad)] or [self.ctx.code(w.param).strip()]
        param = min(texts, key=lambda t: (len(t) > 60, ".module." in t, len(t)))
        opt = o.name or "the optimizer"
        cls = " or ".join(sorted({c.rsplit(".", 1)[-1] for c in classes})) or self.code_of(o.node.func)
        if w.rows:
            mask = self.code_of(w.mask) if w.mask is not None else "rows"
            what = f"zeroes gradient rows of `{param}` to keep them fixed"
            instead = (
                f"save them before training (`orig = {param}.detach().clone()`) and write them back after "
                f"`{self.code_of(step.node)}` under `torch.no_grad()` (`{param}[{mask}] = orig[{mask}]`), "
                f"or build `{opt}` with `weight_decay=0.0`"
            )
        else:
            what = f"zeroes the gradient of `{param}` to keep it fixed"
            instead = (
                f"write `{param}.grad = None` instead (optimizers skip a parameter without a gradient), "
                f"or call `{param}.requires_grad_(False)` before `{opt}` is built"
            )
        written = f"{self.code_of(w.node.targets[0])} = ..." if isinstance(w.node, ast.Assign) else self.code_of(w.node)
        self.report(
            w.node,
            f"`{written}` {what}, but `{opt}` (`{cls}`, weight_decay={decay}) still moves {'them' if w.rows else 'it'} at "
            f"`{self.code_of(step.node)}`: weight decay acts whatever the gradient; {instead}",
            statement=w.stmt,
        )

    def _decay(self, call: ast.Call, scope) -> Optional[str]:
        """The weight decay this optimizer applies, as the user wrote it; None when it is 0 or unknown."""
        kw = next((k.value for k in call.keywords if k.arg == "weight_decay"), None)
        if kw is not None:
            if isinstance(kw, ast.Constant):
                return repr(kw.value) if isinstance(kw.value, (int, float)) and kw.value else None
            default = _argparse_default(self.facts.module, kw)
            if default is not None and not default:
                return None
            return self.code_of(kw)
        if any(k.arg is None for k in call.keywords) or len(call.args) > 1:
            return None  # `**kwargs` or positional hyper-parameters: cannot tell
        names = self._class_names(call.func, scope)
        if names and all(n.rsplit(".", 1)[-1].startswith(("AdamW", "PagedAdamW")) for n in names):
            return "0.01 (its default)"
        return None

    def _class_names(self, func: ast.expr, scope) -> List[str]:
        qual = self.facts.qualified(func, scope)
        if qual:
            return [qual]
        if isinstance(func, ast.Name):
            bindings = self.facts.bindings_at(func, scope) or []
            names = [self.facts.qualified(b.expr, scope) for b in bindings if b.expr is not None and not b.iterate]
            if bindings and len(names) == len(bindings) and all(names):
                return names
        return []


def _pos(node: ast.AST) -> Tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _holds(held: str, key: str) -> bool:
    owner = key.split("#", 1)[0]
    return held == key or ("#" not in held and flow.inside(owner, held))


def _held(paths: grad_masks.ParamPaths, call: ast.Call) -> Tuple[Set[str], bool]:
    """Paths whose parameters the optimizer may hold (either arm of an `if`), and whether its groups set
    their own weight decay."""
    params = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
    out: Set[str] = set()
    groups = False
    stack = [(params, 0)] if params is not None else []
    while stack:
        expr, depth = stack.pop()
        if depth > 6:
            continue
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("parameters", "named_parameters"):
            p = paths.module_path(expr.func.value)
            if p:
                out.add(p)
        elif isinstance(expr, ast.Attribute):
            key = paths.param_key(expr)
            if key:
                out.add(key)
        elif isinstance(expr, ast.Dict):
            if any(string_value(k) == "weight_decay" for k in expr.keys if k is not None):
                groups = True
            stack.extend((v, depth + 1) for v in expr.values)
        elif isinstance(expr, ast.Name):
            bindings = paths.facts.bindings_at(expr, paths.scope) or []
            stack.extend((b.expr, depth + 1) for b in bindings if b.expr is not None and not b.iterate and not b.path)
        elif isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            stack.extend((e.value if isinstance(e, ast.Starred) else e, depth + 1) for e in expr.elts)
        elif isinstance(expr, ast.IfExp):
            stack.extend([(expr.body, depth + 1), (expr.orelse, depth + 1)])
        elif isinstance(expr, ast.Call):
            stack.extend((a.value if isinstance(a, ast.Starred) else a, depth + 1) for a in expr.args)
        elif isinstance(expr, (ast.ListComp, ast.GeneratorExp)):
            stack.extend((g.iter, depth + 1) for g in expr.generators)
    return out, groups


def _restored_keys(paths: grad_masks.ParamPaths, node: ast.AST) -> Set[str]:
    """Parameters this scope writes into directly (`w[rows] = orig[rows]`, `w.data.copy_(...)`, `w.data = ...`)."""
    out: Set[str] = set()
    for n, _ in grad_masks.own_nodes(node):
        targets: List[ast.expr] = []
        if isinstance(n, ast.Assign):
            targets = list(n.targets)
        elif isinstance(n, ast.AugAssign):
            targets = [n.target]
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("copy_", "index_copy_", "scatter_"):
            targets = [n.func.value]
        for t in targets:
            while isinstance(t, ast.Subscript) or (isinstance(t, ast.Attribute) and t.attr == "data"):
                t = t.value
            key = paths.param_key(t) if isinstance(t, ast.Attribute) and t.attr != "grad" else None
            if key:
                out.add(key)
    return out


def _argparse_default(module: ast.Module, expr: ast.expr) -> Optional[float]:
    """For `args.weight_decay`: the numeric `default=` of `--weight_decay` / `--weight-decay` in this file."""
    if not isinstance(expr, ast.Attribute):
        return None
    for n in ast.walk(module):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_argument":
            flags = [string_value(a) for a in n.args]
            if any(f and f.lstrip("-").replace("-", "_") == expr.attr for f in flags):
                d = next((k.value for k in n.keywords if k.arg == "default"), None)
                if isinstance(d, ast.Constant) and isinstance(d.value, (int, float)):
                    return float(d.value)
                return None
    return None
