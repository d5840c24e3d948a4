"""Base for the rules that are queries over `flow` timelines (FRZ1xx, FRZ2xx, FRZ3xx).

Not a rule module itself (the name does not start with `frz`): each flow rule
subclasses `FlowRule` and implements `check(timeline)`, called once for the
module's top level and once per function.
"""

from __future__ import annotations

import ast

from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.rules.base import Rule


class FlowRule(Rule):
    # Also check each class's framework lifecycle (its hooks joined in the order a trainer calls them).
    checks_lifecycles = False

    def visit_Module(self, node: ast.Module) -> None:
        self.check(flow_file.timeline(self.facts, node))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if not self.checks_lifecycles:
            return
        from freezelint.static.lifecycle.hooks import lifecycle_timeline

        tl = lifecycle_timeline(self.flow, node)
        if tl is not None:
            self.check(tl)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.check(flow_file.timeline(self.facts, node))

    visit_AsyncFunctionDef = visit_FunctionDef

    def check(self, tl: flow.Timeline) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def flow(self) -> flow_file.FileFlow:
        return flow_file.file_flow(self.facts)

    def code_of(self, node: ast.AST) -> str:
        text = self.ctx.code(node).strip()
        if len(text) > 60 and isinstance(node, ast.Call):  # `SGD(model.parameters(), ...)`: still Python (issue 22)
            func = self.ctx.code(node.func).strip()
            parts = [self.ctx.code(a).strip() for a in node.args]  # positional only: `...` may not follow a keyword
            taken = []
            for part in parts:
                if len(func) + len(", ".join(taken + [part])) + 7 > 60:
                    break
                taken.append(part)
            if len(func) <= 55:
                return f"{func}({', '.join(taken + ['...'])})"
        return text if len(text) <= 60 else text[:57] + "..."

    def report_at(self, ev: flow.Event, message: str, node=None, severity=None, codemod=None) -> None:
        flow.report_event(self, ev, message, node, severity, codemod)
