"""Requests -> `Fix` text edits: the file parsed once with libcst, each request applied to that
tree alone, the result compared line by line with the text (imported only for a file with a
request: `engine.lint_text`)."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Sequence

from freezelint.findings import Applicability, Edit, Fix
from freezelint.static.fix.codemods.requests import Codemod


def build_fixes(text: str, module: ast.Module, source, reports: Sequence) -> Dict[int, Fix]:
    """id(report) -> its Fix, for the reports that carry a codemod the file can take."""
    wanted = [r for r in reports if getattr(r, "codemod", None) is not None]
    if not wanted:
        return {}
    try:
        from freezelint.static.fix.codemods.cst_ops import CstFile

        cst_file = CstFile(text, module, source)
    except Exception:  # libcst missing or refusing syntax CPython takes: no fix, never a crash
        return {}
    out: Dict[int, Fix] = {}
    for rep in wanted:
        fix = fix_of(cst_file, text, rep.codemod)
        if fix is not None:
            out[id(rep)] = fix
    return out


def apply(cst_file, operations) -> str:
    """The file's text with the operations of one request carried out (raises cst_ops.NoFix)."""
    from freezelint.static.fix.codemods import cst_ops
    from freezelint.static.fix.codemods.requests import Insert, KeepInTrain, Move
    from freezelint.static.fix.codemods.train_override import keep_in_train

    editor = cst_ops.BlockEditor(cst_file)
    for op in operations:
        if isinstance(op, Insert):
            cst_ops.insert(cst_file, editor, op)
        elif isinstance(op, KeepInTrain):
            keep_in_train(cst_file, editor, op)
        elif isinstance(op, Move):
            cst_ops.move(cst_file, editor, op)
        else:  # pragma: no cover - a new operation without its codemod
            raise cst_ops.NoFix(type(op).__name__)
    return cst_file.module.visit(editor).code


def fix_of(cst_file, text: str, codemod: Codemod) -> Optional[Fix]:
    """The request as edits: one hunk per operation where they compose, else one for all."""
    from freezelint.static.fix.fixer import apply_edits

    try:
        new_text = apply(cst_file, codemod.operations)
        edits = [e for op in codemod.operations for e in line_edits(text, apply(cst_file, (op,)))]
    except Exception:  # the request does not fit this file (no such statement, an odd shape)
        return None
    if new_text == text:
        return None
    if len(edits) > 1 and (_overlap(edits) or apply_edits(text, edits) != new_text):
        edits = line_edits(text, new_text)
    return Fix(Applicability.UNSAFE, codemod.message, tuple(edits))


def _overlap(edits: List[Edit]) -> bool:
    spans = sorted(((e.line, e.col), (e.end_line, e.end_col)) for e in edits)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def line_edits(old: str, new: str) -> List[Edit]:
    """The lines that differ between `old` and `new` (after their common first and last lines) as one
    edit of whole lines. A pure insertion takes the line before it along (the line after it at the
    top of the file), so two fixes that insert at the same place overlap and the fixer applies one
    per round."""
    from freezelint.static.fix.fixer import split_lines

    a, b = split_lines(old), split_lines(new)
    if a == b:
        return []
    starts = len(a) + (1 if old.endswith(("\n", "\r")) else 0)

    def pos(k: int):  # the start of 0-based line k of `old`, or its end
        if k < starts:
            return k + 1, 1
        return len(a), len(a[-1]) + 1

    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    q = 0
    while q < min(len(a), len(b)) - p and a[-1 - q] == b[-1 - q]:
        q += 1
    a0, a1, b0, b1 = p, len(a) - q, p, len(b) - q
    if a0 == a1:
        if a0 > 0:
            a0, b0 = a0 - 1, b0 - 1
        elif a1 < len(a):
            a1, b1 = a1 + 1, b1 + 1
    (line, col), (end_line, end_col) = pos(a0), pos(a1)
    return [Edit("".join(b[b0:b1]), line, col, end_line, end_col)]


__all__ = ["build_fixes", "line_edits"]
