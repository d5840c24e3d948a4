"""Where a rule's codemod goes, worked out from its flow timeline (no libcst here).

Each function returns a `requests.Codemod`, or None where the repair is not one standard
edit (then the finding has no fix, and its message alone gives the advice).
"""

from __future__ import annotations

import ast
from typing import Optional

from freezelint.static import flow
from freezelint.static.codemods.requests import Codemod, Insert, KeepInTrain, Move, add_param_group, train_override


def plain_path(path: Optional[str]) -> bool:
    """A path that is also the Python expression it names (`model.layer4`, not `model.*`)."""
    if not path or "*" in path:
        return False
    try:
        return isinstance(ast.parse(path, mode="eval").body, (ast.Name, ast.Attribute))
    except SyntaxError:
        return False


def eval_after_train(facts, tl: flow.Timeline, f: flow.Event, cls: Optional[ast.ClassDef]) -> Optional[Codemod]:
    """FRZ106, a frozen module nothing puts in eval: `X.eval()` after each `model.train()` that follows
    the freeze here; else, in an nn.Module class, a `train()` override that runs it; else, when
    nothing after the freeze trains through a framework, right after the freeze."""
    target = f.target
    if not plain_path(target):
        return None
    line = f"{target}.eval()"
    trains = [t for t in tl.after(f, flow.TRAIN) if t.mode is not False and t.target and flow.inside(target, t.target)]
    if trains:
        ops = tuple(Insert(t.stmt, (line,)) for t in trains if isinstance(t.stmt, ast.Expr))
        if len(ops) != len(trains):
            return None
        return Codemod(f"add `{line}` after every `{trains[0].target}.train()` that follows the freeze", ops)
    if target.startswith("self.") and cls is not None and facts.is_module_class(cls.name):
        return Codemod(f"in `{cls.name}`, {train_override((line,))}", (KeepInTrain(cls, (line,)),))
    if tl.after(f, flow.RUN, flow.PASS) or f.stmt is None:
        return None  # a trainer calls train() itself: an eval here would not last
    return eval_after_freeze(f)


def eval_after_freeze(f: flow.Event) -> Optional[Codemod]:
    """FRZ106, a freeze function that evals the other modules it freezes: `X.eval()` after this freeze."""
    if not plain_path(f.target) or f.stmt is None:
        return None
    line = f"{f.target}.eval()"
    return Codemod(f"add `{line}` after the freeze of `{f.target}`", (Insert(f.stmt, (line,), whole_loop=True),))


def add_group_after_unfreeze(u: flow.Event, optimizer: Optional[str]) -> Optional[Codemod]:
    """FRZ203: `optimizer.add_param_group({"params": [p for p in X.parameters() if p.requires_grad]})`
    after the unfreeze of X (after its whole loop)."""
    if not optimizer or not plain_path(optimizer) or not plain_path(u.target) or u.stmt is None or u.via:
        return None
    line = add_param_group(optimizer, u.target)
    return Codemod(f"add `{line}` after the unfreeze", (Insert(u.stmt, (line,), whole_loop=True),))


def move_optimizer(tl: flow.Timeline, o: flow.Event, f: flow.Event) -> Optional[Codemod]:
    """FRZ201: `opt = Optimizer(...)` moved to just after the statement of its block that holds the
    freeze, where that provably builds the same optimizer: a statement of its own binding a plain name,
    nothing in between mentions that name, rebinds a name its arguments read or assigns below one
    (other than `requires_grad`). Over a whole model's `parameters()` its first argument is wrapped in
    `filter(lambda p: p.requires_grad, ...)`."""
    stmt = o.stmt
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return None
    call = stmt.value
    if o.name != stmt.targets[0].id or not isinstance(call, ast.Call) or call is not o.node:
        return None
    block, i = _block_of(tl.node, stmt)
    if block is None:
        return None
    j = next((k for k in range(i + 1, len(block)) if any(n is f.stmt for n in ast.walk(block[k]))), None)
    if j is None:
        return None
    read = {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
    for between in block[i + 1 : j + 1]:
        for n in ast.walk(between):
            if isinstance(n, ast.Name) and (n.id == o.name or (n.id in read and not isinstance(n.ctx, ast.Load))):
                return None
            if isinstance(n, (ast.Global, ast.Nonlocal)) and set(n.names) & (read | {o.name}):
                return None
            if isinstance(n, (ast.Attribute, ast.Subscript)) and not isinstance(n.ctx, ast.Load):
                if not (isinstance(n, ast.Attribute) and n.attr == "requires_grad") and _root(n) in read:
                    return None
    wrap = None
    if any(how == flow.ALL for _, how in o.over):
        first = call.args[0] if call.args and not isinstance(call.args[0], ast.Starred) else None
        if first is None:
            first = next((k.value for k in call.keywords if k.arg == "params"), None)
        if first is None or any(isinstance(n, ast.Dict) for n in ast.walk(first)):
            return None  # param groups: which group gets the filter is the author's call
        wrap = first
    how = " over `filter(lambda p: p.requires_grad, ...)`" if wrap is not None else ""
    return Codemod(f"build `{o.name}` after the freeze{how}", (Move(stmt, block[j], wrap),))


def _block_of(root: ast.AST, stmt: ast.stmt):
    """The statement list holding `stmt` below `root`, and its index there."""
    for node in ast.walk(root):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                for k, s in enumerate(block):
                    if s is stmt:
                        return block, k
    return None, -1


def _root(node: ast.AST) -> Optional[str]:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


__all__ = ["plain_path", "eval_after_train", "eval_after_freeze", "add_group_after_unfreeze", "move_optimizer"]
