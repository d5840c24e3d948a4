"""Reporters: turn findings into text. They format only; they detect nothing."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

from freezelint.findings import Finding
from freezelint.report import full, github, json_format, sarif, text

FORMATS: Dict[str, Callable[..., str]] = {
    "full": full.render,
    "concise": text.render,
    "text": text.render,  # the old name of "concise"
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}


def render(
    findings: Sequence[Finding],
    fmt: str = "text",
    *,
    color: bool = False,
    show_fixes: bool = False,
    lines_of: Optional[full.LineSource] = None,
    docs_url: Optional[str] = None,
    raw_of: Optional[Callable[[str], Optional[str]]] = None,
) -> str:
    """Render findings (already sorted) in one of FORMATS.

    `lines_of(path)` gives `full` the source lines; `docs_url` overrides the base
    of the rule URLs in `json` and `sarif`; `raw_of(path)` gives `sarif` and `github` a notebook's
    JSON text, to place its findings on the file's own lines (default: read from disk).
    """
    if fmt in ("text", "concise"):
        return text.render(findings, color=color, show_fixes=show_fixes)
    if fmt == "full":
        return full.render(findings, lines_of or (lambda path: None), color=color)
    if fmt == "sarif":
        return sarif.render(findings, docs_url=docs_url, raw_of=raw_of)
    if fmt == "json":
        return json_format.render(findings, docs_url=docs_url)
    if fmt == "github":
        return github.render(findings, raw_of=raw_of)
    return FORMATS[fmt](findings)


__all__ = ["FORMATS", "render"]
