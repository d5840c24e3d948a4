"""Where findings show, and the code actions on them: each fix, fix all safe, add `# noqa`.

Every action is computed as a new text of the linted source (for a notebook,
its joined cells) and turned back into edits of the editor's documents: a
Python file's text, or each changed cell through `Notebook.new_cells`, the path
`check --fix` writes notebooks through. Edits are minimal (only what differs),
so the editor keeps the cursor and undo history around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from freezelint.findings import Applicability, Finding
from freezelint.registry import PARSE_ERROR_CODE
from freezelint.server.linting import LintResult
from freezelint.server.positions import UTF16, LineIndex, Position, TextChange, minimal_change, overlaps
from freezelint.static.run.add_noqa import with_noqa
from freezelint.static.fix.fixer import apply_edits, fix_text
from freezelint.static.input.source import SourceError

QUICKFIX = "quickfix"
FIX_ALL = "source.fixAll.freezelint"


@dataclass(frozen=True)
class Placed:
    """A finding as the editor shows it: which document, which range."""

    index: int  # into LintResult.findings / .located
    uri: str
    start: Position
    end: Position
    finding: Finding  # located (cell positions for a notebook)


def place_all(result: LintResult, encoding: str = UTF16) -> List[Placed]:
    indexes: Dict[str, LineIndex] = {}
    out = []
    for i, f in enumerate(result.located):
        uri, text = result.snapshot.target(f.cell)
        index = indexes.get(uri)
        if index is None:
            index = indexes[uri] = LineIndex(text, encoding)
        start = index.position(f.line, f.col)
        end = index.position(f.end_line, f.end_col)
        if end < start:
            end = start
        if f.code == PARSE_ERROR_CODE and start == end:  # show a point error on its whole line
            end = index.position(f.line + 1, 1) if f.line < len(index.lines) else index.position(f.line, 10**9)
        out.append(Placed(i, uri, start, end, f))
    return out


@dataclass
class Action:
    title: str
    kind: str
    changes: Dict[str, List[TextChange]]  # document URI -> edits
    diagnostics: List[Placed] = field(default_factory=list)
    preferred: bool = False


def document_changes(result: LintResult, new_text: str, encoding: str = UTF16) -> Dict[str, List[TextChange]]:
    """Edits of the editor's documents that make the linted source `new_text`.

    Raises SourceError when a notebook's cells cannot take it (a fix touching IPython syntax).
    """
    snap, src = result.snapshot, result.source
    if src is None:
        return {}
    if src.cells is None:
        change = minimal_change(snap.text, new_text, encoding)
        return {snap.uri: [change]} if change is not None else {}
    out: Dict[str, List[TextChange]] = {}
    cells = snap.cells or ()
    for cell, text in src.cells.new_cells(new_text):
        if cell.position >= len(cells):
            raise SourceError("the notebook's cells changed while fixing")
        target = cells[cell.position]
        change = minimal_change(target.text, text, encoding)
        if change is not None:
            out[target.uri] = [change]
    return out


def _wanted(kind: str, only: Optional[Sequence[str]]) -> bool:
    return not only or any(kind == o or kind.startswith(o + ".") for o in only)


def fix_title(f: Finding) -> str:
    what = f.fix.message if f.fix is not None and f.fix.message else "apply the suggested fix"
    unsafe = f.fix is not None and f.fix.applicability is Applicability.UNSAFE
    return f"Fix {f.code}: {what}" + (" (unsafe fix: review it, it may change what the code does)" if unsafe else "")


def actions_for(
    result: LintResult,
    uri: str,
    start: Position,
    end: Position,
    only: Optional[Sequence[str]] = None,
    encoding: str = UTF16,
) -> List[Action]:
    """The code actions for the range start..end of document `uri` (a file, or a notebook's cell)."""
    if result.source is None:
        return []
    placed = [p for p in place_all(result, encoding) if p.uri == uri and p.finding.code != PARSE_ERROR_CODE]
    here = [p for p in placed if overlaps(p.start, p.end, start, end)]
    out: List[Action] = []
    if _wanted(QUICKFIX, only):
        for p in here:
            raw = result.findings[p.index]
            if raw.fix is not None:
                action = _edit_action(result, fix_title(raw), QUICKFIX, apply_edits(result.source.text, raw.fix.edits), [p], encoding)
                if action is not None:
                    action.preferred = raw.fix.applicability is Applicability.SAFE
                    out.append(action)
        seen = set()
        for p in here:
            raw = result.findings[p.index]
            if (raw.line, raw.code) in seen:
                continue
            seen.add((raw.line, raw.code))
            text, changed, _skipped = with_noqa(result.source.text, {raw.line: {raw.code}})
            if changed:
                title = f"Add `# noqa: {raw.code}` on this line"
                action = _edit_action(result, title, QUICKFIX, text, [p], encoding)
                if action is not None:
                    out.append(action)
    if _wanted(FIX_ALL, only) or (_wanted(QUICKFIX, only) and any(p.finding.fix for p in here)):
        action = fix_all(result, encoding)
        if action is not None:
            out.append(action)
    return out


def fix_all(result: LintResult, encoding: str = UTF16) -> Optional[Action]:
    """Every safe fix of the document, applied round after round as `check --fix` does."""
    src = result.source
    if src is None or not any(f.fix is not None and f.fix.applicability is Applicability.SAFE for f in result.findings):
        return None
    fixed = fix_text(result.snapshot.path, src.text, result.relint, unsafe=False)
    if fixed.fixed == 0 or fixed.text == src.text:
        return None
    fixed_codes = {f.code for f in result.findings if f.fix is not None}
    placed = [p for p in place_all(result, encoding) if p.finding.code in fixed_codes]
    return _edit_action(result, "Fix all safe freezelint problems", FIX_ALL, fixed.text, placed, encoding)


def _edit_action(result: LintResult, title: str, kind: str, new_text: str, placed: List[Placed], encoding: str) -> Optional[Action]:
    try:
        changes = document_changes(result, new_text, encoding)
    except SourceError:
        return None  # e.g. it would change IPython syntax in a cell: offer nothing rather than a broken edit
    if not changes:
        return None
    return Action(title, kind, changes, placed)


def apply_changes(text: str, changes: Sequence[TextChange], encoding: str = UTF16) -> str:
    """A document's text after non-overlapping edits (what a client does with a WorkspaceEdit)."""
    index = LineIndex(text, encoding)
    spans: List[Tuple[int, int, str]] = sorted(
        ((index.offset(c.start), index.offset(c.end), c.new_text) for c in changes), reverse=True
    )
    for a, b, new in spans:
        text = text[:a] + new + text[b:]
    return text
