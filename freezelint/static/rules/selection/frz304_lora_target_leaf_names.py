from __future__ import annotations

import ast
from functools import cached_property
from typing import Iterator, List, Optional, Set, Tuple

from freezelint.findings import Severity
from freezelint.static.parse.astutil import FUNCTION_NODES, string_value
from freezelint.static.rules.base import Rule


class LoraTargetLeafNames(Rule):
    """
    ## What it does
    Flags a helper that builds PEFT's `target_modules` from the modules of
    the model, skipping some by their name (`if "model.layers" in name:
    continue`), but records only each layer's leaf name
    (`name.split(".")[-1]`, `names[-1]`), when its result is passed as
    `target_modules=`.

    ## Why is this bad?
    PEFT matches a `target_modules` list against the end of every module's
    full name. A leaf name such as `q_proj` or `fc1` is shared by the
    layers of every transformer in the model, so the modules the helper
    skipped get adapters too: LoRA meant for the vision tower lands in the
    language model as well (or the other way round), and those adapters
    train. The skip list has no effect on any module whose leaf name also
    occurs in the kept part (AutoGeo-Official/AutoGeo#4).

    At run time: FRZ504 (declared frozen but trainable) when the skipped
    part is declared frozen to the auditor: its new `lora_` parameters train.

    ## Example
    ```python
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    def find_all_linear_names(model):
        names = set()
        for name, module in model.named_modules():
            if "language_model" in name:
                continue
            if isinstance(module, nn.Linear):
                names.add(name.split(".")[-1])
        return list(names)

    def add_lora(model):
        return get_peft_model(model, LoraConfig(target_modules=find_all_linear_names(model)))
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    def find_all_linear_names(model):
        names = set()
        for name, module in model.named_modules():
            if "language_model" in name:
                continue
            if isinstance(module, nn.Linear):
                names.add(name)
        return list(names)

    def add_lora(model):
        return get_peft_model(model, LoraConfig(target_modules=find_all_linear_names(model)))
    ```
    Full names match only themselves (or write one regular expression as
    a string: `target_modules=r".*vision_tower.*\\.(q_proj|v_proj)"`).
    """

    code = "FRZ304"
    name = "lora-target-leaf-names"
    summary = "`target_modules` built from leaf names (`name.split('.')[-1]`) also match the modules the helper skipped"
    severity = Severity.WARNING
    triggers = ("target_modules",)

    @cached_property
    def _reported_helpers(self) -> Set[int]:
        """id() of the helpers already reported in this file: one finding each (one rule instance per file)."""
        return set()

    def visit_Call(self, node: ast.Call) -> None:
        kw = next((k for k in node.keywords if k.arg == "target_modules"), None)
        if kw is None:
            return
        done = self._reported_helpers
        for fdef in self._helpers(kw.value):
            if id(fdef) in done:
                continue
            done.add(id(fdef))
            for add, skip, leaf in _leaf_adds(fdef):
                skipped = ", ".join(repr(s) for s in _skipped_words(fdef, skip)) or f"`{self.ctx.code(skip).strip()}`"
                coll = self.ctx.code(add.func.value).strip()
                self.report(
                    add,
                    f"`{self.ctx.code(add).strip()}` keeps only the leaf name of each layer `{fdef.name}` does not "
                    f"skip (it skips {skipped}), and PEFT matches `target_modules` against the end of every module's "
                    f"full name: the layers of the skipped modules with the same leaf name (`q_proj`, `fc1`) get "
                    f"adapters too; record the full name (`{coll}.{add.func.attr}({leaf})`)",
                    statement=_statement_of(fdef, add),
                )

    def _helpers(self, value: ast.expr) -> List[ast.AST]:
        """The functions of this file whose result `value` is (`f(model)`, `list(f(model))`, a name bound to it)."""
        calls: List[ast.Call] = []
        if isinstance(value, ast.Call):
            calls.append(value)
            if isinstance(value.func, ast.Name) and value.func.id in ("list", "sorted", "set", "tuple") and value.args:
                if isinstance(value.args[0], ast.Call):
                    calls.append(value.args[0])
        elif isinstance(value, ast.Name):
            for b in self.facts.bindings_at(value, self.ctx.scope) or []:
                if isinstance(b.expr, ast.Call) and not b.iterate:
                    calls.append(b.expr)
        out = []
        for c in calls:
            if isinstance(c.func, ast.Name):
                out.extend(d for d in self.facts.functions.get(c.func.id, []) if isinstance(d, FUNCTION_NODES))
        return out


def _leaf_adds(fdef: ast.AST) -> Iterator[Tuple[ast.Call, ast.expr, str]]:
    """(the add/append call, the skip test, the loop's name variable) for each leaf name recorded in a
    `for name, module in x.named_modules():` loop of `fdef` that skips modules by name first."""
    for loop in ast.walk(fdef):
        if not (isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call)):
            continue
        f = loop.iter.func
        if not (isinstance(f, ast.Attribute) and f.attr == "named_modules"):
            continue
        if not (isinstance(loop.target, ast.Tuple) and loop.target.elts and isinstance(loop.target.elts[0], ast.Name)):
            continue
        var = loop.target.elts[0].id
        skip = _skip_test(loop.body, var)
        if skip is None:
            continue
        split_names = {
            s.targets[0].id for s in ast.walk(loop) if isinstance(s, ast.Assign) and len(s.targets) == 1
            and isinstance(s.targets[0], ast.Name) and _is_split(s.value, var)
        }
        for n in ast.walk(loop):
            if (
                isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("add", "append")
                and len(n.args) == 1 and _is_leaf(n.args[0], var, split_names)
            ):
                yield n, skip, var


def _skip_test(body: List[ast.stmt], var: str) -> Optional[ast.expr]:
    """`if <test of var>: continue` among the loop's first statements."""
    for stmt in body:
        if isinstance(stmt, ast.If) and stmt.body and isinstance(stmt.body[-1], ast.Continue):
            if any(isinstance(n, ast.Name) and n.id == var for n in ast.walk(stmt.test)):
                return stmt.test
    return None


def _is_split(expr: ast.expr, var: str) -> bool:
    """`var.split(".")` / `var.rsplit(".", ...)`."""
    return (
        isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("split", "rsplit")
        and isinstance(expr.func.value, ast.Name) and expr.func.value.id == var
        and bool(expr.args) and string_value(expr.args[0]) == "."
    )


def _is_last(sub: ast.expr) -> bool:
    return isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub) and isinstance(sub.operand, ast.Constant) and sub.operand.value == 1


def _is_leaf(expr: ast.expr, var: str, split_names) -> bool:
    if isinstance(expr, ast.IfExp):
        return _is_leaf(expr.body, var, split_names) or _is_leaf(expr.orelse, var, split_names)
    if isinstance(expr, ast.Subscript) and _is_last(expr.slice):
        v = expr.value
        return _is_split(v, var) or (isinstance(v, ast.Name) and v.id in split_names)
    return False


def _skipped_words(fdef: ast.AST, test: ast.expr) -> List[str]:
    """The strings a skip test names, its own literals or those of a list it reads bound in the helper."""
    lists = {}
    for n in ast.walk(fdef):
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            if isinstance(n.value, (ast.List, ast.Tuple, ast.Set)):
                lists[n.targets[0].id] = n.value
    out: List[str] = []
    for n in ast.walk(test):
        if isinstance(n, ast.Name) and n.id in lists:
            out.extend(s for s in (string_value(e) for e in lists[n.id].elts) if s)
        else:
            s = string_value(n)
            if s:
                out.append(s)
    return out


def _statement_of(fdef: ast.AST, node: ast.AST) -> Optional[ast.stmt]:
    for stmt in ast.walk(fdef):
        if isinstance(stmt, ast.Expr) and stmt.value is node:
            return stmt
    return None
