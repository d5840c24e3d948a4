"""What freezelint says about each code it can emit: the one record static rules and runtime checks share.

A leaf module (it imports only `findings`), so the registry, the static rules and the
runtime codes all depend on it without depending on each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from freezelint.findings import Severity


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    summary: str
    severity: Severity
    default_enabled: bool
    fixable: Optional[str]  # None, "safe" or "unsafe"
    doc: str
    kind: str  # "static" | "runtime" | "internal"

    @property
    def short_doc(self) -> str:
        """The first paragraph of `## What it does`, for SARIF and `rules`."""
        m = re.search(r"## What it does\s*\n(.*?)(\n\s*\n|\n##|$)", self.doc, re.S)
        text = m.group(1) if m else self.summary
        return " ".join(text.split())
