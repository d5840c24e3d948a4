"""Small questions about CPython `ast` nodes that every part of the static pass asks.

Positions: `ast` columns are UTF-8 byte offsets; `SourceText` turns them into the
1-based character columns findings use, and cuts source segments by node.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Dict, List, Optional, Tuple

# Python ends lines only at \r\n, \r or \n (str.splitlines also splits at \f, \x1c, U+2028...).
_LINE_END = re.compile(r"\r\n|\r|\n")

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def dotted_name(node: Optional[ast.AST]) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def unquoted(ann: Optional[ast.AST]) -> Optional[ast.AST]:
    """A string annotation (`"BertModel"`) as the expression it names; other nodes as they are; None if unparsable."""
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        try:
            return ast.parse(ann.value, mode="eval").body
        except SyntaxError:
            return None
    return ann


def bool_literal(node: Optional[ast.AST]) -> Optional[bool]:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    return None


def string_value(node: Optional[ast.AST]) -> Optional[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def positional(call: ast.Call) -> List[ast.expr]:
    """The call's positional arguments, up to the first `*args` (after it, indexes mean nothing)."""
    out = []
    for a in call.args:
        if isinstance(a, ast.Starred):
            break
        out.append(a)
    return out


def has_star_args(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def keyword(call: ast.Call, name: str) -> Optional[ast.expr]:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def arg(call: Optional[ast.Call], index: int, name: str) -> Optional[ast.expr]:
    """The argument passed as `name=` or at position `index`."""
    if call is None:
        return None
    kw = keyword(call, name)
    if kw is not None:
        return kw
    pos = positional(call)
    return pos[index] if 0 <= index < len(pos) else None


def method_name(call: ast.AST) -> Optional[str]:
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def mentions(node: ast.AST, word: str) -> bool:
    """Any Name (or attribute) in `node` spelled `word`."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id == word:
            return True
        if isinstance(n, ast.Attribute) and n.attr == word:
            return True
    return False


def names_in(node: ast.AST) -> List[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def is_expression_statement(stmt: Optional[ast.AST], value: ast.AST) -> bool:
    return isinstance(stmt, ast.Expr) and stmt.value is value


def ends_in_exit(body: List[ast.stmt]) -> bool:
    """The block's last statement is a `return` or `raise`."""
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise))


class SourceText:
    """A file's text with line offsets: byte columns -> character columns, node segments, comments."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in _LINE_END.finditer(text)]
        self._ascii = text.isascii()
        self._comments: Optional[Dict[int, str]] = None

    def line(self, lineno: int) -> str:
        """The text of a 1-based line, without its line end."""
        if lineno < 1 or lineno > len(self.starts):
            return ""
        start = self.starts[lineno - 1]
        end = self.starts[lineno] if lineno < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def char_col(self, lineno: int, byte_col: int) -> int:
        """0-based character column of a 0-based UTF-8 byte column."""
        if self._ascii:
            return byte_col
        line = self.line(lineno)
        if line.isascii():
            return byte_col
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))

    def offset(self, lineno: int, byte_col: int) -> int:
        return self.starts[lineno - 1] + self.char_col(lineno, byte_col)

    def span(self, node: ast.AST) -> Tuple[int, int, int, int]:
        """(line, col, end_line, end_col), 1-based character columns, end exclusive."""
        line, end_line = node.lineno, node.end_lineno or node.lineno
        return (
            line,
            self.char_col(line, node.col_offset) + 1,
            end_line,
            self.char_col(end_line, node.end_col_offset if node.end_col_offset is not None else node.col_offset) + 1,
        )

    def segment(self, node: ast.AST) -> str:
        line, col, end_line, end_col = self.span(node)
        return self.text[self.starts[line - 1] + col - 1 : self.starts[end_line - 1] + end_col - 1]

    def comments(self) -> Dict[int, str]:
        """line -> the comment on it (tokenized once, on first use)."""
        if self._comments is None:
            out: Dict[int, str] = {}
            try:
                for tok in tokenize.generate_tokens(io.StringIO(self.text).readline):
                    if tok.type == tokenize.COMMENT:
                        out[tok.start[0]] = tok.string
            except (tokenize.TokenError, SyntaxError, IndentationError):
                pass
            self._comments = out
        return self._comments

    def comment_near(self, stmt: Optional[ast.AST]) -> str:
        """The comment on the statement's first line and on a comment line right above it."""
        if stmt is None:
            return ""
        comments = self.comments()
        out = []
        line = stmt.lineno
        end = getattr(stmt, "end_lineno", line) or line
        if isinstance(stmt, ast.stmt) and not _is_compound(stmt):
            for ln in range(line, end + 1):
                if ln in comments:
                    out.append(comments[ln])
                    break
        elif line in comments:
            out.append(comments[line])
        above = line - 1
        if above in comments and self.line(above).lstrip().startswith("#"):
            out.append(comments[above])
        return " ".join(out)


def _is_compound(stmt: ast.stmt) -> bool:
    return isinstance(
        stmt,
        (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
        + ((ast.Match,) if hasattr(ast, "Match") else ()),
    )
