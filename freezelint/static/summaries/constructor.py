"""What a class's constructor does to the instance it builds, for the project model (summary.ClassSummary).

`init_summary(init)` reads `__init__` as `summary_functions.function_summary` does (statements only:
`self.x.eval()`, a `for m in self.modules()` loop of `m.eval()`, `for p in self.x.parameters():
p.requires_grad = False`, the methods it calls on `self`), and keeps the condition each effect runs
under when that condition is one of the constructor's own parameters (`if freeze_bn: self.freeze_bn()`),
so a call site can tell whether its instance gets the effect: `DeepLab(freeze_bn=True)` does,
`DeepLab()` (default False) does not. Conditions on anything else are recorded as unknown (`?`).
`project_modes.ClassTable.construction_effects` resolves the methods called through the hierarchy.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from freezelint.static.summaries.functions import function_summary

ALWAYS = ""  # the effect runs whatever the arguments
UNKNOWN = "?"  # under a condition that is not one of the constructor's parameters


@dataclass
class InitSummary:
    # (path below self ("" : self itself, "x.*": some modules below x), FREEZE/UNFREEZE/EVAL/TRAIN, guard)
    # guard: ALWAYS, "p" (runs when parameter p is truthy), "!p" (when it is falsy), UNKNOWN
    effects: List[Tuple[str, str, str]] = field(default_factory=list)
    calls: List[Tuple[str, str]] = field(default_factory=list)  # (method called on self, guard)
    params: List[str] = field(default_factory=list)  # positional parameters after self, in order
    defaults: Dict[str, Optional[bool]] = field(default_factory=dict)  # parameter -> truth of its literal default


def init_summary(init: ast.AST) -> InitSummary:
    a = init.args
    pos = list(a.posonlyargs) + list(a.args)
    out = InitSummary(params=[p.arg for p in pos[1:]])
    for arg, default in list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + [
        (k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None
    ]:
        out.defaults[arg.arg] = _truth(default)
    names = {p.arg for p in pos[1:]} | {k.arg for k in a.kwonlyargs}
    for guard, body in _groups(init.body, ALWAYS, names):
        fake = ast.FunctionDef(name="__init__", args=init.args, body=body, decorator_list=[])
        fs = function_summary(fake, method=True)
        out.effects.extend((path, kind, guard) for i, path, kind in fs.effects if i == 0)
        out.calls.extend((m, guard) for m in dict.fromkeys(fs.self_calls))
    return out


def _truth(node: ast.AST) -> Optional[bool]:
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float, str))):
        return bool(node.value)
    return None


def _guard_of(test: ast.AST, names) -> Optional[Tuple[str, str]]:
    """(guard of the body, guard of the else) for `if p:` / `if not p:` / `if self.p:` on a parameter."""
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    inner = test.operand if negated else test
    name = inner.id if isinstance(inner, ast.Name) else None
    if name is None or name not in names:
        return None
    return (f"!{name}", name) if negated else (name, f"!{name}")


def _groups(body: List[ast.stmt], guard: str, names) -> List[Tuple[str, List[ast.stmt]]]:
    """The statements of `body` grouped by the condition they run under (nested `if p:` split out)."""
    out: List[Tuple[str, List[ast.stmt]]] = [(guard, [])]
    for stmt in body:
        if isinstance(stmt, ast.If):
            g = _guard_of(stmt.test, names) if guard == ALWAYS else None
            arms = g if g is not None else (UNKNOWN, UNKNOWN)
            out.extend(_groups(stmt.body, arms[0], names))
            out.extend(_groups(stmt.orelse, arms[1], names))
            out.append((guard, []))
        else:
            out[-1][1].append(stmt)
    return [(g, b) for g, b in out if b]
