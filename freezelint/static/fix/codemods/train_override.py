"""FRZ106 / FRZ107's class fix: the class's `train()` puts its frozen parts back in eval mode.

A class with its own `train()` gets the lines after the `super().train(...)` statement of that
override (a `return super().train(mode)` becomes the call, the lines, `return self`); a class
without one gets

    def train(self, mode=True):
        super().train(mode)
        <lines>
        return self

at the end of the class, separated by as many blank lines as separate its last method from
the statement before it (one or two). Two fixes of one class edit the same line, so the
fixer applies one per round and the next goes into the override the first added.
"""

from __future__ import annotations

from typing import List, Optional

import libcst as cst

from freezelint.static.fix.codemods.cst_ops import BlockEditor, CstFile, NoFix, blockify
from freezelint.static.fix.codemods.requests import KeepInTrain


def keep_in_train(f: CstFile, editor: BlockEditor, op: KeepInTrain) -> None:
    cls = f.line_statement(op.cls)
    if not isinstance(cls, cst.ClassDef) or not isinstance(cls.body, cst.IndentedBlock):
        raise NoFix("not a class with a block")
    body = list(cls.body.body)
    lines = [f.statement(line) for line in op.lines]
    trains = [s for s in body if _binds(s, "train")]
    if trains:
        _into_override(f, editor, trains[-1], lines)
        return
    anchor = body[-1]  # every fix that adds an override to this class edits here: one per round
    blank = _blank_lines_before(body, anchor)
    code = _override_text(f, op.lines)
    method = cst.parse_statement(code, config=f.module.config_for_parsing)
    method = method.with_changes(body=method.body.with_changes(body=[blockify(s) for s in method.body.body]))
    method = method.with_changes(leading_lines=[cst.EmptyLine(indent=False)] * blank)
    editor.insert_after(anchor, [method])


def _override_text(f: CstFile, lines) -> str:
    nl, ind = f.module.default_newline, f.module.default_indent
    body = ["super().train(mode)", *lines, "return self"]
    return f"def train(self, mode=True):{nl}" + "".join(f"{ind}{s}{nl}" for s in body)


def _binds(stmt: cst.CSTNode, name: str) -> bool:
    if isinstance(stmt, cst.FunctionDef):
        return stmt.name.value == name
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            targets = [t.target for t in getattr(small, "targets", ())] + [getattr(small, "target", None)]
            if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                return True
    return False


def _into_override(f: CstFile, editor: BlockEditor, train: cst.CSTNode, lines: List[cst.BaseStatement]) -> None:
    if not isinstance(train, cst.FunctionDef) or not isinstance(train.body, cst.IndentedBlock):
        raise NoFix("train is not a method with a block")
    for stmt in train.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        value = getattr(small, "value", None)
        if not _is_super_train(value):
            continue
        if isinstance(small, cst.Return):
            call = stmt.with_changes(body=[cst.Expr(value=value)])
            editor.replace(stmt, [call, *lines, f.statement("return self")])
        else:
            editor.insert_after(stmt, lines)
        return
    raise NoFix("no super().train(...) statement in the override")


def _is_super_train(value: Optional[cst.BaseExpression]) -> bool:
    """`super().train(...)` or `super(Cls, self).train(...)`."""
    return (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value == "train"
        and isinstance(value.func.value, cst.Call)
        and isinstance(value.func.value.func, cst.Name)
        and value.func.value.func.value == "super"
    )


def _blank_lines_before(body: list, anchor: cst.CSTNode) -> int:
    """The blank lines (without comments) that separate `anchor` from the statement before it."""
    if body and body[0] is anchor or not isinstance(anchor, (cst.FunctionDef, cst.ClassDef)):
        return 1
    leading = list(anchor.leading_lines)
    if any(line.comment is not None for line in leading):
        leading = leading[: next(i for i, line in enumerate(leading) if line.comment is not None)]
    return max(1, min(2, len(leading)))
