"""The libcst side of the codemods: find the statements a request names, change their blocks.

One parse per file; each request is applied to that same tree alone (libcst trees are
immutable: a change makes new nodes up to the module, the rest is shared) and printed.
Blocks are changed in one `BlockEditor` pass keyed by the original nodes, so several
operations of one request (an eval after each `model.train()`) compose.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from freezelint.static.fix.codemods.plans import whole_loop
from freezelint.static.fix.codemods.requests import Insert, Move

_COMPOUND = cst.BaseCompoundStatement


class NoFix(Exception):
    """The request does not fit the code as written (a shape the codemod does not rewrite)."""


class CstFile:
    def __init__(self, text: str, module: ast.Module, source):
        self.module = cst.parse_module(text)
        wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        self.pos = wrapper.resolve(PositionProvider)
        self.parent = wrapper.resolve(ParentNodeProvider)
        self.source = source  # astutil.SourceText: ast byte columns -> characters
        self.ast_module = module
        self._ast_parents: Optional[Dict[int, ast.AST]] = None
        self._at: Optional[Dict[Tuple[int, int], List[cst.CSTNode]]] = None

    # -- finding nodes ---------------------------------------------------------------------
    def _where(self, node: ast.AST) -> Tuple[int, int]:
        return node.lineno, self.source.char_col(node.lineno, node.col_offset)

    def _nodes_at(self, node: ast.AST) -> List[cst.CSTNode]:
        if self._at is None:
            self._at = {}
            for n, p in self.pos.items():
                self._at.setdefault((p.start.line, p.start.column), []).append(n)
        return self._at.get(self._where(node), [])

    def line_statement(self, stmt: ast.stmt) -> cst.CSTNode:
        """The libcst statement that holds `stmt`: a compound statement itself, or the
        SimpleStatementLine / SimpleStatementSuite a simple statement sits in."""
        kinds = _COMPOUND if isinstance(stmt, _AST_COMPOUND) else cst.BaseSmallStatement
        found = [n for n in self._nodes_at(stmt) if isinstance(n, kinds)]
        if len(found) != 1:
            raise NoFix("statement not found")
        n = found[0]
        return n if isinstance(n, _COMPOUND) else self.parent[n]

    def expression(self, expr: ast.expr) -> cst.BaseExpression:
        end = (expr.end_lineno, self.source.char_col(expr.end_lineno, expr.end_col_offset))
        found = [
            n for n in self._nodes_at(expr)
            if isinstance(n, cst.BaseExpression) and (self.pos[n].end.line, self.pos[n].end.column) == end
        ]
        if len(found) != 1:
            raise NoFix("expression not found")
        return found[0]

    def ast_parent(self, node: ast.AST) -> Optional[ast.AST]:
        if self._ast_parents is None:
            self._ast_parents = {
                id(c): p for p in ast.walk(self.ast_module) for c in ast.iter_child_nodes(p) if isinstance(c, ast.stmt)
            }
        return self._ast_parents.get(id(node))

    def whole_loop(self, stmt: ast.stmt) -> ast.stmt:
        return whole_loop(stmt, self.ast_parent)

    def statement(self, line: str) -> cst.BaseStatement:
        """One line of a request as a statement: `if c: x()` becomes a block (`if c:` / `x()`)."""
        return blockify(cst.parse_statement(line + self.module.default_newline, config=self.module.config_for_parsing))


def blockify(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """`if c: x()` written on one line (how a request spells it) as an `if` block."""
    if isinstance(stmt, cst.If) and isinstance(stmt.body, cst.SimpleStatementSuite) and stmt.orelse is None:
        return stmt.with_changes(body=cst.IndentedBlock(body=[cst.SimpleStatementLine(body=stmt.body.body)]))
    return stmt


def insert(f: CstFile, editor: "BlockEditor", op: Insert) -> None:
    after = f.whole_loop(op.after) if op.whole_loop else op.after
    editor.insert_after(f.line_statement(after), [f.statement(s) for s in op.lines])


def move(f: CstFile, editor: "BlockEditor", op: Move) -> None:
    moved = f.line_statement(op.stmt)
    if not isinstance(moved, cst.SimpleStatementLine) or len(moved.body) != 1:
        raise NoFix("not a statement alone on its line")
    after = f.line_statement(op.after)
    if f.parent[moved] is not f.parent[after]:
        raise NoFix("not in one block")
    new = moved
    if op.wrap is not None:
        old = f.expression(op.wrap)
        text = f"filter(lambda p: p.requires_grad, {f.module.code_for_node(old)})"
        new = new.deep_replace(old, cst.parse_expression(text, config=f.module.config_for_parsing))
    editor.remove(moved)
    editor.insert_after(after, [new])


_AST_COMPOUND = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
) + tuple(getattr(ast, n) for n in ("TryStar", "Match") if hasattr(ast, n))


class BlockEditor(cst.CSTTransformer):
    """Insertions after and removals of the statements of blocks (IndentedBlock, Module), found by
    the original statement; a one-line suite (`if x: m.eval()`) that gets a statement becomes a block."""

    def __init__(self, f: CstFile):
        super().__init__()
        self.f = f
        self.after: Dict[int, List[cst.BaseStatement]] = {}  # id(original statement) -> statements to add
        self.removed: set = set()
        self.replaced: Dict[int, List[cst.BaseStatement]] = {}

    def insert_after(self, stmt: cst.CSTNode, new: List[cst.BaseStatement]) -> None:
        self.after.setdefault(id(stmt), []).extend(new)

    def replace(self, stmt: cst.CSTNode, new: List[cst.BaseStatement]) -> None:
        self.replaced[id(stmt)] = new

    def remove(self, stmt: cst.CSTNode) -> None:
        self.removed.add(id(stmt))

    def _body(self, original, updated) -> list:
        out = []
        for old, new in zip(original.body, updated.body):
            if id(old) in self.replaced:
                out.extend(self.replaced[id(old)])
            elif id(old) not in self.removed:
                out.append(new)
            out.extend(self.after.get(id(old), ()))
        return out

    def leave_IndentedBlock(self, original, updated):
        return updated.with_changes(body=self._body(original, updated))

    def leave_Module(self, original, updated):
        return updated.with_changes(body=self._body(original, updated))

    def leave_SimpleStatementSuite(self, original, updated):
        added = self.after.get(id(original))
        if not added:
            return updated
        line = cst.SimpleStatementLine(body=updated.body, trailing_whitespace=updated.trailing_whitespace)
        return cst.IndentedBlock(body=[line] + list(added))
