from __future__ import annotations

import ast
import re
from typing import Iterator, List, Optional, Set, Tuple

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import grad_masks
from freezelint.static.rules.flow_rule import FlowRule

# the attribute itself, not `.grad_fn` or `.gradient`
_GRAD = re.compile(r"\.grad\b")


class GradMaskWrongIndex(FlowRule):
    """
    ## What it does
    Flags the loop that builds a gradient mask (the rows whose gradient is
    zeroed to keep them fixed, FRZ210's `grad[mask] = 0`) when it walks the
    items after the first ones, `for i in range(len(ids[1:]))` (or
    `enumerate(ids[1:])`), but reads them as `ids[i]`, from the start again.

    ## Why is this bad?
    `range(len(ids[1:]))` counts from 0: `ids[i]` is `ids[0]`, `ids[1]`, ...,
    `ids[-2]`, never the last item. The last new token (or parameter) is
    never taken out of the mask, so its gradient rows are zeroed at every
    step and it never learns, while the run looks normal: a multi-concept
    textual-inversion or custom-diffusion run with `<new1>+<new2>` trains
    only `<new1>` (diffusers#7294). With a single item the loop is empty and
    nothing shows.

    Also flagged: a mask assigned anew at each pass of a loop over several
    items from the loop variable alone (`for t in ids: keep = arange != t`)
    and used by the gradient write after the loop: it is the last item's
    mask only.

    At run time: the auditor checks whole parameters, and the embedding
    still gets a gradient (its other new rows), so only this rule sees it.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    emb = nn.Embedding(100, 8)
    new_ids = [98, 99]
    emb(torch.tensor(new_ids)).sum().backward()
    mask = torch.arange(100) != new_ids[0]
    for i in range(len(new_ids[1:])):
        mask = mask & (torch.arange(100) != new_ids[i])
    emb.weight.grad[mask, :] = 0
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    emb = nn.Embedding(100, 8)
    new_ids = [98, 99]
    emb(torch.tensor(new_ids)).sum().backward()
    mask = torch.arange(100) != new_ids[0]
    for i in range(len(new_ids[1:])):
        mask = mask & (torch.arange(100) != new_ids[i + 1])
    emb.weight.grad[mask, :] = 0
    ```
    or loop over the items themselves: `for tid in new_ids[1:]: mask &= torch.arange(100) != tid`.
    """

    code = "FRZ303"
    name = "grad-mask-wrong-index"
    summary = "a gradient mask built by a loop that drops items: `x[i]` over `range(len(x[1:]))`, or reassigned each pass"
    severity = Severity.ERROR
    triggers = (".grad",)
    trigger_pattern = _GRAD

    def check(self, tl: flow.Timeline) -> None:
        if not isinstance(tl.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            return
        if not isinstance(tl.node, ast.Module) and _GRAD.search(self.ctx.source.segment(tl.node)) is None:
            return  # no gradient written in this function (the file's trigger says only that one is somewhere)
        loops: List[ast.For] = []
        rows = False  # some statement zeroes rows of a tensor: without one no mask is used (masks below)
        for n in grad_masks.own_statements(tl.node):
            if isinstance(n, ast.For):
                loops.append(n)
            elif not rows and isinstance(n, ast.stmt):
                rows = grad_masks.zeroes_rows(n)
        if not loops or not rows:
            return
        scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
        offsets = [(loop, got) for loop in loops for got in [_offset_loop(loop)] if got is not None]
        paths = grad_masks.ParamPaths(self.flow, tl, scope)
        writes = grad_masks.grad_writes(paths, tl.node)
        masks = _mask_names(writes)
        if not masks:
            return
        for loop in loops:
            for stmt, target in _overwritten_masks(loop, masks, writes):
                var = self.code_of(loop.target)
                self.report(
                    stmt,
                    f"`{target}` is assigned anew at each pass of `for {var} in {self.code_of(loop.iter)}` from "
                    f"`{var}` alone, so after the loop it is the last item's mask only: the gradient write below "
                    f"treats the other items as if they were not listed (a new token among them is zeroed and never "
                    f"learns); combine the passes (`{target} = {target} & ...` from a mask built before the loop), "
                    f"or test all items at once (`torch.isin(torch.arange(n), torch.tensor(ids))`)",
                    statement=stmt,
                )
        for loop, (var, seq, k) in offsets:
            for stmt, target, sub in _mask_updates(loop, var, seq, masks):
                items = self.code_of(seq)
                first = "first" if k == 1 else f"first {k}"
                self.report(
                    sub,
                    f"`{self.code_of(loop.iter)}` counts the items of `{items}` after the {first}, but "
                    f"`{self.code_of(sub)}` reads `{items}` from index 0 again: `{items}[-1]` never reaches "
                    f"`{target}`, so its gradient rows are zeroed at every step and it never learns; "
                    f"write `{items}[{var} + {k}]` (or loop over the items: `for x in {items}[{k}:]`)",
                    statement=stmt,
                )


def _offset_loop(loop: ast.For) -> Optional[Tuple[str, ast.expr, int]]:
    """(index name, the sequence, k) for `for i in range(len(seq[k:]))` / `for i, _ in enumerate(seq[k:])`."""
    it = loop.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and len(it.args) == 1 and not it.keywords):
        return None
    var: Optional[str] = None
    sliced = None
    if it.func.id == "range" and isinstance(loop.target, ast.Name):
        arg = it.args[0]
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "len" and len(arg.args) == 1:
            var, sliced = loop.target.id, arg.args[0]
    elif it.func.id == "enumerate" and isinstance(loop.target, ast.Tuple) and loop.target.elts:
        first = loop.target.elts[0]
        if isinstance(first, ast.Name):
            var, sliced = first.id, it.args[0]
    if var is None or not isinstance(sliced, ast.Subscript) or not isinstance(sliced.slice, ast.Slice):
        return None
    sl = sliced.slice
    low = sl.lower
    if sl.upper is not None or sl.step is not None or not isinstance(low, ast.Constant):
        return None
    if isinstance(low.value, bool) or not isinstance(low.value, int) or low.value <= 0:
        return None
    return var, sliced.value, low.value


def _overwritten_masks(loop: ast.For, masks: Set[str], writes: List[grad_masks.GradWrite]):
    """`mask = <from the loop variable, not from mask>` in a loop over several items, the mask then used
    by a gradient write after the loop (not inside it)."""
    targets = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    after = [w for w in writes if w.rows and w.mask is not None and w.stmt.lineno > (loop.end_lineno or loop.lineno)]
    inside = {id(n) for n in ast.walk(loop)}
    if not targets or not after or any(id(w.stmt) in inside for w in writes):
        return
    for stmt in loop.body:
        name = _written_name(stmt)
        if name is None or name not in masks or not isinstance(stmt, ast.Assign):
            continue
        used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
        if name in used or not (used & targets):
            continue
        if any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for o in loop.body if o is not stmt
               for n in ast.walk(o)):
            continue  # read back in the loop (accumulated elsewhere)
        if any(name in {n.id for n in ast.walk(w.mask) if isinstance(n, ast.Name)} for w in after):
            yield stmt, name


def _mask_names(writes: List[grad_masks.GradWrite]) -> Set[str]:
    """The plain names the masks of row-zeroing writes are made of (`keep`, `~keep`, `keep[:, None]`)."""
    out: Set[str] = set()
    for w in writes:
        if w.rows and w.mask is not None:
            out.update(n.id for n in ast.walk(w.mask) if isinstance(n, ast.Name))
    return out


def _mask_updates(loop: ast.For, var: str, seq: ast.expr, masks: Set[str]) -> Iterator[Tuple[ast.stmt, str, ast.Subscript]]:
    """Statements of the loop body that write a mask name from `seq[var]` (no offset)."""
    want = ast.dump(seq)
    for stmt in _body_statements(loop.body):
        target = _written_name(stmt)
        if target is None or target not in masks:
            continue
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AugAssign)) else None
        if value is None:
            continue
        for n in ast.walk(value):
            if (
                isinstance(n, ast.Subscript)
                and isinstance(n.slice, ast.Name)
                and n.slice.id == var
                and ast.dump(n.value) == want
            ):
                yield stmt, target, n
                break


def _body_statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _body_statements(stmt.body)
            yield from _body_statements(stmt.orelse)


def _written_name(stmt: ast.stmt) -> Optional[str]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id
    return None
