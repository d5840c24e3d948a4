"""Reporters: turn findings into text. They format only; they detect nothing."""

from __future__ import annotations

from typing import Callable, Dict, Sequence

from freezelint.findings import Finding
from freezelint.report import github, json_format, sarif, text

FORMATS: Dict[str, Callable[..., str]] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}


def render(findings: Sequence[Finding], fmt: str = "text", *, color: bool = False) -> str:
    """Render findings (already sorted) in one of FORMATS."""
    if fmt == "text":
        return text.render(findings, color=color)
    return FORMATS[fmt](findings)


__all__ = ["FORMATS", "render"]
