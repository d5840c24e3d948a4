from __future__ import annotations

import ast
import re
from functools import cached_property
from typing import Dict, Optional

from freezelint.findings import Applicability
from freezelint.static.rules.base import Rule
from freezelint.static.rules.api.frz007_grad_mode_call_discarded import GRAD_MODE_CONTEXTS

# Decorators that turn compilation off for a function: `torch.compiler.disable(fn)` returns a new
# function and leaves `fn` as it was.
COMPILE_DISABLERS = frozenset({"torch.compiler.disable", "torch._dynamo.disable"})
# Named without a call, these do nothing either (the FRZ007 names plus the global switch).
BARE_NAMES: Dict[str, str] = dict(GRAD_MODE_CONTEXTS, **{"torch.set_grad_enabled": "set_grad_enabled"})


class DecoratorNeverApplied(Rule):
    """
    ## What it does
    Flags `torch.no_grad`, `torch.enable_grad`, `torch.inference_mode`,
    `torch.set_grad_enabled`, `torch.compiler.disable` and
    `torch._dynamo.disable` written as a statement on their own, with no `@`,
    no call and no `with`; and `torch.compiler.disable(...)` called as a
    statement, whose result (the wrapped function) is thrown away.

    ## Why is this bad?
    A bare name is an expression that evaluates to the function or class and
    discards it: nothing is entered or decorated. Usually the `@` was lost
    above a `def`, so the function runs with gradients recorded (the memory
    and time `no_grad` was meant to save) or is compiled after all.
    `torch.compiler.disable(fn)` returns a new function and leaves `fn`
    unchanged, so calling it as a statement disables nothing.
    (`torch.no_grad()` called as a statement is FRZ007.)

    At run time: FRZ509 (grad-disabled-in-step) sees the grad mode that was
    actually in effect during an audited step.

    ## Example
    ```python
    import torch

    torch.no_grad
    def predict(model, x):
        return model(x)
    ```

    ## Use instead
    ```python
    import torch

    @torch.no_grad()
    def predict(model, x):
        return model(x)
    ```

    ## Fix safety
    When the bare name stands right above a `def` or `class`, the fix turns it
    into that definition's decorator. It is unsafe: the function's behaviour
    changes (that is the point), and the line might have been left on purpose.
    """

    code = "FRZ008"
    name = "decorator-never-applied"
    summary = "a grad-mode or compile-disable decorator written as a bare statement is never applied"
    fixable = "unsafe"
    triggers = ("no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "disable")
    # a trigger word ending a statement (a bare name), or `disable(` (a discarded call)
    trigger_pattern = tuple(re.compile(w + r"\s*(?:[;#]|$)", re.M) for w in triggers) + (re.compile(r"disable\("),)

    @cached_property
    def _next_statements(self) -> Dict[int, ast.stmt]:
        """Statement -> the statement right after it in the same body (a decorator's target).

        Built on first need (most files have no bare decorator; one rule instance per file), from the
        statements only: statement lists hang from statements, handlers and match cases, never from an expression."""
        nxt: Dict[int, ast.stmt] = {}
        stack: list = [self.ctx.module]
        while stack:
            n = stack.pop()
            for field in ("body", "orelse", "finalbody"):
                body = getattr(n, field, None)
                if isinstance(body, list):
                    for a, b in zip(body, body[1:]):
                        nxt[id(a)] = b
                    stack.extend(body)
            stack.extend(getattr(n, "handlers", ()))
            stack.extend(getattr(n, "cases", ()))
        return nxt

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        if isinstance(value, (ast.Name, ast.Attribute)):
            self._bare(node, value)
        elif isinstance(value, ast.Call) and self.ctx.qualified(value.func) in COMPILE_DISABLERS:
            code = self.ctx.code(value)
            target = value.args[0] if value.args else None
            what = (
                f"returns a new function and leaves `{self.ctx.code(target)}` compiled as before"
                if target is not None
                else "builds a decorator and discards it"
            )
            self.report(value, f"`{code}` {what}; decorate the definition with `@{self.ctx.code(value.func)}` instead")

    def _bare(self, stmt: ast.Expr, expr: ast.expr) -> None:
        qual = self.ctx.qualified(expr)
        if qual not in BARE_NAMES and qual not in COMPILE_DISABLERS:
            return
        code = self.ctx.code(expr)
        decorated = self._definition_below(stmt)
        if qual in COMPILE_DISABLERS:
            decorator = f"@{code}"
            advice = f"write `{decorator}` above the function it should keep out of compilation"
        elif qual == "torch.set_grad_enabled":
            decorator = None
            advice = f"call it (`{code}(False)`) or use `with {code}(False):`"
        else:
            decorator = f"@{code}()"
            advice = f"write `with {code}():` around the code it should cover, or `{decorator}` above a function"
        replace = None
        if decorator is not None and decorated is not None:
            replace = (stmt, decorator)
            advice = f"`{decorator}` was probably meant above `{decorated.name}`"
        self.report(
            expr,
            f"`{code}` on its own names the {'decorator' if qual in COMPILE_DISABLERS else 'context manager'} "
            f"without applying it: nothing changes; {advice}",
            replace=replace,
            applicability=Applicability.UNSAFE,
            fix_message=f"Make it the decorator `{decorator}`" if replace else "",
        )

    def _definition_below(self, stmt: ast.stmt) -> Optional[ast.AST]:
        """The def/class starting on the very next line (its first decorator counts), if any."""
        nxt = self._next_statements.get(id(stmt))
        if not isinstance(nxt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return None
        first = min([nxt.lineno] + [d.lineno for d in nxt.decorator_list])
        if first != (stmt.end_lineno or stmt.lineno) + 1:
            return None
        return nxt
