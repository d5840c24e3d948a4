"""Where a rule's codemod goes, worked out from its flow timeline (no libcst here).

Each function returns a `requests.Codemod`, or None where the repair is not one standard
edit (then the finding has no fix, and its message alone gives the advice).
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, List, Optional, Sequence

from freezelint.static.flow import timeline as flow
from freezelint.static.fix.codemods.requests import Codemod, Insert, KeepInTrain, Move, add_param_group, train_override


def plain_path(path: Optional[str]) -> bool:
    """A path that is also the Python expression it names (`model.layer4`, not `model.*`)."""
    if not path or "*" in path:
        return False
    try:
        return isinstance(ast.parse(path, mode="eval").body, (ast.Name, ast.Attribute))
    except SyntaxError:
        return False


def eval_after_train(facts, tl: flow.Timeline, f: flow.Event, cls: Optional[ast.ClassDef],
                     keep: Sequence[str] = (), module: Optional[str] = None) -> Optional[Codemod]:
    """FRZ106, a frozen module nothing puts in eval: `X.eval()` after each `model.train()` that follows
    the freeze here; else, in an nn.Module class, a `train()` override that runs it; else, when
    nothing after the freeze trains through a framework, right after the freeze. `keep`: the parts of X
    set trainable after the freeze (a new head): `.train()` again right after the eval."""
    target = module or f.target  # as the code writes it (`model.module.backbone` after `model = DDP(model)`)
    keep = [target + k[len(f.target):] for k in keep]
    if not plain_path(target) or not all(plain_path(k) for k in keep):
        return None
    lines = (f"{target}.eval()",) + tuple(f"{k}.train()" for k in keep)
    line = "`, then `".join(lines)
    trains = [t for t in tl.after(f, flow.TRAIN) if t.mode is not False and t.target and flow.inside(f.target, t.target)]
    if trains:
        if keep and any(t.mode is not True for t in trains):
            return None  # `model.train(flag)`: the head's mode would have to follow the flag
        ops = tuple(Insert(t.stmt, lines) for t in trains if isinstance(t.stmt, ast.Expr))
        if len(ops) != len(trains):
            return None
        return Codemod(f"add `{line}` after every `{trains[0].target}.train()` that follows the freeze", ops)
    if keep and target.startswith("self."):
        return None  # an override's `.train()` of the head would have to follow its `mode`
    if target.startswith("self.") and cls is not None and facts.is_module_class(cls.name):
        test = _at_construction(tl, f)
        if test is False:
            return None  # frozen later, or on a constructor argument: an override cannot tell when
        line = guarded(line, test)
        return Codemod(f"in `{cls.name}`, {train_override((line,))}", (KeepInTrain(cls, (line,)),))
    if tl.after(f, flow.RUN, flow.PASS) or f.stmt is None:
        return None  # a trainer calls train() itself: an eval here would not last
    if keep:
        return Codemod(f"add `{line}` after the freeze of `{target}`", (Insert(f.stmt, lines, whole_loop=True),))
    return eval_after_freeze(f, target)


def _at_construction(tl: flow.Timeline, f: flow.Event):
    """The freeze runs in `__init__` (after its whole loop): always (None), or under a top-level `if` on
    `self` (its test); False otherwise (another method, a constructor argument's condition)."""
    if not isinstance(tl.node, (ast.FunctionDef, ast.AsyncFunctionDef)) or tl.node.name != "__init__" or f.via:
        return False
    if not f.maybe:
        return None
    parents: Dict[int, ast.AST] = {id(c): p for p in ast.walk(tl.node) for c in ast.iter_child_nodes(p)}
    stmt = whole_loop(f.stmt, lambda n: parents.get(id(n))) if f.stmt is not None else None
    guard = top_level_if(tl.node, stmt)
    if guard is None or len(f.branches) != 1 or not self_only(guard.test):
        return False
    return guard.test


def eval_after_freeze(f: flow.Event, module: Optional[str] = None) -> Optional[Codemod]:
    """FRZ106, a freeze function that evals the other modules it freezes: `X.eval()` after this freeze.
    `module`: X as the code writes it; default the path."""
    module = module or f.target
    if not plain_path(module) or f.stmt is None:
        return None
    line = f"{module}.eval()"
    return Codemod(f"add `{line}` after the freeze of `{module}`", (Insert(f.stmt, (line,), whole_loop=True),))


def add_group_after_unfreeze(tl: flow.Timeline, u: flow.Event, optimizer: Optional[str],
                             module: Optional[str] = None) -> Optional[Codemod]:
    """FRZ203: `optimizer.add_param_group({"params": [p for p in X.parameters() if p.requires_grad]})`
    after the unfreeze of X (after its whole loop), where that runs once per call of its scope (a
    second run would add the same parameters again: torch refuses them). `module`: X as the code
    writes it (`model.module.layer4` where flow's path is `model.layer4`); default the path."""
    module = module or u.target
    if not optimizer or not plain_path(optimizer) or not plain_path(module) or u.stmt is None or u.via:
        return None
    if repeats(tl.node, u.stmt):
        return None
    line = add_param_group(optimizer, module)
    return Codemod(f"add `{line}` after the unfreeze", (Insert(u.stmt, (line,), whole_loop=True),))


_SAFE_CALLS = {"len", "isinstance", "hasattr", "getattr"}


def self_only(test: ast.expr) -> bool:
    """A condition that reads only `self` attributes and constants (with len/isinstance/hasattr/getattr):
    a `train()` override can test it again."""
    for n in ast.walk(test):
        if isinstance(n, ast.Name) and n.id != "self" and n.id not in _SAFE_CALLS:
            return False
        if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in _SAFE_CALLS):
            return False
        if isinstance(n, (ast.NamedExpr, ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
    return any(isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(test))


def top_level_if(method: ast.AST, stmt: Optional[ast.stmt]) -> Optional[ast.If]:
    """The `if` at the top of `method`'s body whose own body holds `stmt`."""
    for s in getattr(method, "body", ()):
        if isinstance(s, ast.If) and any(b is stmt for b in s.body):
            return s
    return None


def guarded(line: str, test: Optional[ast.expr]) -> str:
    """`line`, or `if <test>: line` (one line: the codemod makes it a block)."""
    return line if test is None else f"if {ast.unparse(test)}: {line}"


def whole_loop(stmt: ast.stmt, parent: Callable[[ast.AST], Optional[ast.AST]]) -> ast.stmt:
    """The outermost `for` around `stmt` (through `for`s and `if`s only) whose loop variable `stmt`
    acts on: `for p in m.parameters(): p.requires_grad = False` is one freeze."""
    used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    out, cur = stmt, stmt
    while True:
        up = parent(cur)
        if not isinstance(up, (ast.For, ast.AsyncFor, ast.If)) or cur not in getattr(up, "body", ()):
            return out
        if isinstance(up, (ast.For, ast.AsyncFor)):
            if {n.id for n in ast.walk(up.target) if isinstance(n, ast.Name)} & used:
                out = up
            else:
                return out
        cur = up


def repeats(root: ast.AST, stmt: ast.stmt) -> bool:
    """`stmt` (after its whole loop) may run more than once per call of `root`: it sits in the body of a
    `for`/`while` of `root` with no one-time condition between them (`if epoch == 3:`, or
    `if not done:` whose body sets `done = True`)."""
    parents: Dict[int, ast.AST] = {id(c): p for p in ast.walk(root) for c in ast.iter_child_nodes(p)}
    cur: ast.AST = whole_loop(stmt, lambda n: parents.get(id(n)))
    ifs: List[ast.If] = []
    while cur is not root:
        up = parents.get(id(cur))
        if up is None or isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return False  # a nested definition: its own scope
        if isinstance(up, ast.If) and cur in up.body:
            ifs.append(up)
        elif isinstance(up, (ast.For, ast.AsyncFor, ast.While)) and cur in up.body:
            if not any(_once_per_loop(g, up) for g in ifs):
                return True
        cur = up
    return False


def _once_per_loop(guard: ast.If, loop: ast.stmt) -> bool:
    """`guard`'s body runs at most once over the passes of `loop`."""
    if isinstance(loop, ast.While):  # a counter the loop moves on
        counters = {n.target.id for n in ast.walk(loop) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    else:
        counters = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    test = guard.test
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    for part in parts:
        if isinstance(part, ast.Compare) and len(part.ops) == 1 and isinstance(part.ops[0], ast.Eq):
            if any(isinstance(side, ast.Name) and side.id in counters for side in (part.left, part.comparators[0])):
                return True
        if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.Not) and isinstance(part.operand, (ast.Name, ast.Attribute)):
            flag = ast.unparse(part.operand)
            for s in guard.body:
                if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) and s.value.value is True:
                    if any(ast.unparse(t) == flag for t in s.targets):
                        return True
    return False


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


__all__ = [
    "plain_path", "eval_after_train", "eval_after_freeze", "add_group_after_unfreeze", "move_optimizer", "whole_loop", "repeats",
    "self_only", "top_level_if", "guarded",
]
