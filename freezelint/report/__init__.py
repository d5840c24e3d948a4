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
) -> str:
    """Render findings (already sorted) in one of FORMATS.

    `lines_of(path)` gives `full` the source lines; `docs_url` overrides the base
    of the rule URLs in `json` and `sarif`.
    """
    if fmt in ("text", "concise"):
        return text.render(findings, color=color, show_fixes=show_fixes)
    if fmt == "full":
        return full.render(findings, lines_of or (lambda path: None), color=color)
    if fmt in ("json", "sarif"):
        return FORMATS[fmt](findings, docs_url=docs_url)
    return FORMATS[fmt](findings)


__all__ = ["FORMATS", "render"]
