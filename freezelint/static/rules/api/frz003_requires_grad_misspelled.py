from __future__ import annotations

import re
from functools import lru_cache

import ast

from freezelint.findings import Applicability
from freezelint.static.semantic.kinds import TENSOR
from freezelint.static.rules.base import Rule, lowered, requires_grad_call

TARGET = "requires_grad"
# Real names that are close to `requires_grad` but mean something else.
REAL_NAMES = frozenset({"requires_grad", "requires_grad_", "retains_grad", "retain_grad", "requires_grad_fn"})
# torch functions whose own parameter is spelled `require_grad` (torch/_C/__init__.pyi).
REAL_KEYWORD_OWNERS = frozenset({"_make_subclass"})
EXTRA_MISSPELLINGS = frozenset({"requires_gradient", "require_gradient", "requires_gradients", "requiresgrad", "requiresgradient"})


# Identifiers of a length within 2 of `requires_grad` (13) that share its start or end.
_CANDIDATE_RE = re.compile(r"\b(?:[rR][eE]\w{8,13}|\w{6,11}(?:[gG]ra?d|[gG]ard|[dD]rag)\w{0,4}|[rR]equiresGrad\w*)\b")


_WORD_RE = re.compile(r"\w+")


def _words_with_gr(text: str):
    """Every identifier containing `gr` in any case: `is_misspelled_requires_grad` accepts no other.
    Finding `gr` first and reading the word around it is ~10x cheaper than a regex over all identifiers."""
    lower = lowered(text)  # shared with the other prefilters
    seen = set()
    i = lower.find("gr")
    while i != -1:
        start = max(0, i - 24)
        for m in _WORD_RE.finditer(text, start, i + 26):
            if m.start() <= i < m.end():
                w = m.group()
                if w not in seen:
                    seen.add(w)
                    yield w
                i = max(i, m.end() - 2)
                break
        i = lower.find("gr", i + 2)


def _osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    prev2 = None
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=4096)
def is_misspelled_requires_grad(name: str) -> bool:
    if name in REAL_NAMES or name.startswith("_"):
        return False
    snake = re.sub(r"(?<=[a-z])([A-Z])", r"_\1", name).lower()
    if snake in REAL_NAMES:
        return name != snake  # `requiresGrad` is a misspelling; `requires_grad` is not
    if snake.replace("_", "") in EXTRA_MISSPELLINGS or snake in EXTRA_MISSPELLINGS:
        return True
    if abs(len(snake) - len(TARGET)) > 2 or "gr" not in snake:
        return False
    return _osa_distance(snake, TARGET) <= 2


class RequiresGradMisspelled(Rule):
    """
    ## What it does
    Flags attribute writes and keyword arguments spelled close to
    `requires_grad` but not it: `require_grad`, `required_grad`,
    `requires_grads`, `requiresGrad`, `requries_grad`...

    ## Why is this bad?
    `p.require_grad = False` creates a new attribute on the parameter and
    leaves `requires_grad` untouched: nothing is frozen. As a keyword,
    `torch.zeros(3, require_grad=True)` raises a `TypeError`, and a function
    that takes `**kwargs` silently drops it.

    A name the project itself reads back (an attribute) or declares (a
    function parameter) is the project's own spelling and is not flagged.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Linear(8, 2)
    for p in model.parameters():
        p.require_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Linear(8, 2)
    for p in model.parameters():
        p.requires_grad = False
    ```

    ## Fix safety
    The fix (respell the name `requires_grad`) is unsafe: it changes what the program does (the
    flag is now really set, or a keyword now reaches a different parameter or raises), which is the
    point, but it is a change in behaviour a reviewer should look at.
    """

    code = "FRZ003"
    name = "requires-grad-misspelled"
    summary = "a name close to `requires_grad` is not `requires_grad`: the flag is never set"
    fixable = "unsafe"
    triggers = ()

    @classmethod
    def might_fire(cls, text: str) -> bool:
        return any(is_misspelled_requires_grad(w) for w in _words_with_gr(text))


    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            if not isinstance(t, ast.Attribute):
                continue
            attr = t.attr
            if not is_misspelled_requires_grad(attr):
                continue
            kind = self.ctx.kind_of(t.value)
            if kind.tag != TENSOR and attr in self.facts.attr_loads:
                continue  # the program reads this attribute back: its own spelling
            receiver = self.ctx.code(t.value)
            value = self.ctx.code(node.value)
            if kind.is_module():
                suggestion = f"`{receiver}.requires_grad_({value})`"
                replace = (node, requires_grad_call(receiver, value)) if len(node.targets) == 1 else None
            else:
                suggestion = f"`{receiver}.requires_grad = {value}`"
                replace = (t, f"{receiver}.{TARGET}")
            self.report(
                t,
                f"`{attr}` is not `requires_grad`: this sets an unused attribute and freezes nothing; "
                f"write {suggestion}",
                replace=replace,
                applicability=Applicability.UNSAFE,
                fix_message=f"Write {suggestion}",
            )

    def visit_Call(self, call: ast.Call) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in REAL_KEYWORD_OWNERS:
            return  # these really spell it `require_grad`
        for kw in call.keywords:
            if kw.arg is not None and is_misspelled_requires_grad(kw.arg):
                self._check_keyword(call, kw)

    def _check_keyword(self, call: ast.Call, node: ast.keyword) -> None:
        kw = node.arg
        qual = self.ctx.qualified(call.func) or ""
        if not qual.startswith("torch.") and kw in self.facts.project.def_params:
            return  # a parameter the project's own functions declare
        self.report(
            node,
            f"keyword `{kw}` is not `requires_grad`: it raises a TypeError or is silently ignored; "
            f"write `requires_grad=`",
            replace=(node, f"{TARGET}={self.ctx.code(node.value)}"),
            applicability=Applicability.UNSAFE,
            fix_message="Rename to `requires_grad`",
        )
