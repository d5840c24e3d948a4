"""Which modules a function given to `model.apply(fn)` acts on: the tests guarding its effect on its parameter.

`model.apply(fn)` calls `fn` on every module below `model`; what `fn` freezes is selected by the `if`
tests around the freeze: `isinstance(m, nn.BatchNorm2d)`, or a test of the module's class name
(`classname = m.__class__.__name__` then `classname.find('BatchNorm') != -1`, `'EfficientNet' in
classname`, `for ntl in ['EfficientNet', 'BiFPN']: if ntl in classname`). `selection` reads those
tests; a test it cannot read (a flag, another property of the module) makes the selection unknown.
`holds_batchnorm` answers for the selected modules from the project's classes and torch's names.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from freezelint.static.parse.astutil import dotted_name, string_value
from freezelint.static.semantic.project_modes import ClassTable, ctor_holds_batchnorm
from freezelint.static.summaries.modes import is_batchnorm_class_name


@dataclass(frozen=True)
class Selection:
    every: bool  # no test: every module below the receiver
    classes: Tuple[str, ...] = ()  # `isinstance(m, C)`: C as this file names it (qualified where resolved)
    name_parts: Tuple[str, ...] = ()  # strings tested against the module's class name

    def describe(self) -> str:
        if self.every:
            return "every module"
        shown = [f"`{c.rsplit('.', 1)[-1]}`" for c in self.classes] + [f"'{p}'" for p in self.name_parts]
        if self.name_parts and not self.classes:
            return "the modules whose class name contains " + " or ".join(shown)
        return "the modules of class " + " or ".join(shown)


def selection(facts, fdef: ast.AST, guards: Tuple[ast.expr, ...]) -> Optional[Selection]:
    """The modules `fdef` (whose first parameter is the module) acts on under `guards` (the `if` tests
    around one effect, outermost first); None: some test is not about the module's class."""
    params = fdef.args.posonlyargs + fdef.args.args
    if not params:
        return None
    param = params[0].arg
    scope = facts.scope_of.get(id(fdef))
    class_names = _class_name_vars(fdef, param)
    string_loops = _string_loops(fdef)
    classes, parts = [], []
    for test in guards:
        got = _read_test(facts, scope, test, param, class_names, string_loops)
        if got is None:
            return None
        classes.extend(got[0])
        parts.extend(got[1])
    if not classes and not parts:
        return Selection(True) if not guards else None
    return Selection(False, tuple(dict.fromkeys(classes)), tuple(dict.fromkeys(parts)))


def holds_batchnorm(sel: Selection, table: ClassTable) -> Optional[bool]:
    """Do the selected modules include some holding a live BatchNorm (`every`: not answered here)?"""
    if sel.every:
        return None
    for c in sel.classes:
        if ctor_holds_batchnorm(c, table):
            return True
    for part in sel.name_parts:
        if "BatchNorm" in part or is_batchnorm_class_name(part):
            return True
        for short, quals in table.short.items():
            if part in short and any(table.holds_batchnorm(q) for q in quals):
                return True
    return None


def _class_name_of(expr: ast.AST, param: str) -> bool:
    """`m.__class__.__name__` / `type(m).__name__` / `m._get_name()`."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "_get_name":
        return isinstance(expr.func.value, ast.Name) and expr.func.value.id == param
    if not (isinstance(expr, ast.Attribute) and expr.attr == "__name__"):
        return False
    owner = expr.value
    if isinstance(owner, ast.Attribute) and owner.attr == "__class__":
        return isinstance(owner.value, ast.Name) and owner.value.id == param
    return (
        isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "type"
        and len(owner.args) == 1 and isinstance(owner.args[0], ast.Name) and owner.args[0].id == param
    )


def _class_name_vars(fdef: ast.AST, param: str) -> frozenset:
    """Names bound (once) to the module's class name in the function."""
    out: Dict[str, int] = {}
    bound: Dict[str, int] = {}
    for n in ast.walk(fdef):
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            name = n.targets[0].id
            bound[name] = bound.get(name, 0) + 1
            if _class_name_of(n.value, param):
                out[name] = 1
    return frozenset(n for n in out if bound[n] == 1)


def _string_loops(fdef: ast.AST) -> Dict[str, Tuple[str, ...]]:
    """`for ntl in ['EfficientNet', 'BiFPN']:` -> {'ntl': the strings} (a literal list of strings only)."""
    out: Dict[str, Tuple[str, ...]] = {}
    for n in ast.walk(fdef):
        if isinstance(n, ast.For) and isinstance(n.target, ast.Name) and isinstance(n.iter, (ast.List, ast.Tuple, ast.Set)):
            strings = [string_value(e) for e in n.iter.elts]
            if strings and all(isinstance(s, str) for s in strings):
                out[n.target.id] = tuple(strings)
    return out


def _read_test(facts, scope, test, param, class_names, string_loops):
    """([isinstance classes], [class-name parts]) a test selects on, or None when it tests something else."""
    if isinstance(test, ast.BoolOp):
        classes, parts = [], []
        for v in test.values:
            got = _read_test(facts, scope, v, param, class_names, string_loops)
            if got is None:
                return None
            classes += got[0]
            parts += got[1]
        return classes, parts
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance" and len(test.args) == 2:
        if not (isinstance(test.args[0], ast.Name) and test.args[0].id == param):
            return None
        elts = test.args[1].elts if isinstance(test.args[1], ast.Tuple) else [test.args[1]]
        names = [(facts.qualified(e, scope) if scope is not None else None) or dotted_name(e) for e in elts]
        return (names, []) if all(names) else None
    # the class name against strings: `'X' in name`, `name.find('X') != -1`, `name.startswith('X')`, `name == 'X'`
    names = {n for n in ast.walk(test) if isinstance(n, (ast.Name, ast.Attribute, ast.Call))}
    if not any((isinstance(n, ast.Name) and n.id in class_names) or _class_name_of(n, param) for n in names):
        return None
    parts = []
    for n in ast.walk(test):
        s = string_value(n) if isinstance(n, ast.Constant) else None
        if isinstance(s, str):
            parts.append(s)
        elif isinstance(n, ast.Name) and n.id in string_loops:
            parts.extend(string_loops[n.id])
    return ([], parts) if parts else None
