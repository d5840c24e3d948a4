"""Rewriting cell sources inside a notebook's JSON text without re-serialising it.

`json.dumps` of the whole notebook would change its indentation, key order,
escapes and final newline. Instead the JSON text is walked (values that are not
cell sources are skipped by the C decoder) to find each cell's source strings,
and only the strings of changed lines are replaced.
"""

from __future__ import annotations

import difflib
import json
import re
from json.decoder import scanstring
from typing import Callable, Dict, List, Tuple

from freezelint.static.input.notebook_magics import split_lines
from freezelint.static.input.source import SourceError

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

Span = Tuple[int, int]


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()


def _skip(text: str, i: int) -> int:
    return _DECODER.raw_decode(text, i)[1]


def _walk(text: str, i: int, close: str, on_value: Callable[[object, int], int]) -> int:
    """Walk the object or array opening at text[i]; on_value(key or index, start) returns the value's end."""
    i = _ws(text, i + 1)
    if text[i] == close:
        return i + 1
    index = 0
    while True:
        key: object = index
        if close == "}":
            key, i = scanstring(text, i + 1)
            i = _ws(text, _ws(text, i) + 1)  # past the ':'
        i = _ws(text, on_value(key, i))
        index += 1
        if text[i] == close:
            return i + 1
        i = _ws(text, i + 1)  # past the ','


def source_spans(text: str) -> Dict[int, object]:
    """Cell position -> the span of its source string, or a list of its item spans plus the brackets."""
    spans: Dict[int, object] = {}

    def source(pos: int, i: int) -> int:
        if text[i] == '"':
            end = scanstring(text, i + 1)[1]
            spans[pos] = ("str", (i, end))
            return end
        if text[i] != "[":
            return _skip(text, i)
        items: List[Span] = []

        def item(_: object, j: int) -> int:
            end = _skip(text, j)
            items.append((j, end))
            return end

        end = _walk(text, i, "]", item)
        spans[pos] = ("list", items, (i, end))
        return end

    def cell(pos: int, i: int) -> int:
        if text[i] != "{":
            return _skip(text, i)
        return _walk(text, i, "}", lambda key, j: source(pos, j) if key == "source" else _skip(text, j))

    def top(key: object, i: int) -> int:
        if key == "cells" and text[i] == "[":
            return _walk(text, i, "]", lambda pos, j: cell(pos, j))  # type: ignore[arg-type]
        return _skip(text, i)

    _walk(text, _ws(text, 0), "}", top)
    return spans


def rewrite_sources(text: str, changes: Dict[int, str]) -> str:
    """The JSON text with cell sources replaced: {cell position: new source text}.

    A list source keeps the JSON strings of its unchanged items as they are; any
    split of the text into items is read correctly, since only items equal to a
    new line are reused.
    """
    try:
        spans = source_spans(text)
    except (ValueError, IndexError):
        raise SourceError("cannot locate the cell sources in the notebook's JSON; not written") from None
    ascii_only = text.isascii()  # keep a file that escapes non-ASCII characters escaping them

    def dump(s: str) -> str:
        return json.dumps(s, ensure_ascii=ascii_only)

    edits: List[Tuple[int, int, str]] = []
    for pos, new in changes.items():
        span = spans.get(pos)
        if span is None:
            raise SourceError(f"cell {pos + 1} has no source in the notebook's JSON; not written")
        if span[0] == "str":
            edits.append((*span[1], dump(new)))
            continue
        _, items, (open_, close) = span
        tokens = [text[a:b] for a, b in items]
        old = [json.loads(t) for t in tokens]
        new_lines = split_lines(new)
        new_tokens: List[str] = []
        in_place = True
        for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, old, new_lines, autojunk=False).get_opcodes():
            if op == "equal":
                new_tokens.extend(tokens[a0:a1])
            else:
                new_tokens.extend(dump(s) for s in new_lines[b0:b1])
                in_place = in_place and op == "replace" and a1 - a0 == b1 - b0
        if in_place and len(new_tokens) == len(tokens):
            edits.extend((a, b, t) for (a, b), t, o in zip(items, new_tokens, tokens) if t != o)
            continue
        if len(items) >= 2:
            sep = text[items[0][1]: items[1][0]]
        elif items:
            sep = "," + text[open_ + 1: items[0][0]]
        else:
            sep = ", "
        if items:
            edits.append((items[0][0], items[-1][1], sep.join(new_tokens)))
        else:
            edits.append((open_, close, "[" + sep.join(new_tokens) + "]"))
    pieces, at = [], 0  # one pass over the text: a notebook's outputs can be megabytes
    for start, end, content in sorted(edits):
        pieces += [text[at:start], content]
        at = end
    return "".join(pieces) + text[at:]


def check_rewrite(old: dict, new_json: str, sources: Dict[int, str]) -> None:
    """The rewritten JSON is the old notebook with exactly the new sources in those cells."""
    try:
        new = json.loads(new_json)
    except ValueError:
        raise SourceError("rewriting the notebook produced invalid JSON; not written") from None
    expected = dict(old, cells=list(old["cells"]))
    for pos, text in sources.items():
        try:
            src = new["cells"][pos]["source"]
            ok = (src if isinstance(src, str) else "".join(src)) == text
        except (LookupError, TypeError):
            ok = False
        if not ok:
            raise SourceError(f"rewriting cell {pos + 1} of the notebook went wrong; not written")
        expected["cells"][pos] = dict(old["cells"][pos], source=src)
    if new != expected:
        raise SourceError("rewriting the notebook would change more than the fixed cells; not written")


__all__ = ["check_rewrite", "rewrite_sources", "source_spans"]
