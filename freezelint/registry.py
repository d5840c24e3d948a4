"""Every code freezelint can emit, static and runtime, with its documentation.

Static rules register themselves by subclassing `freezelint.static.rules.base.Rule`;
runtime checks describe themselves in the torch-free `freezelint.runtime.codes`.
This module joins both so `freezelint rules`, `explain`, `--select` and SARIF
see one list, without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional

from freezelint.findings import Severity

DOCS_URL = None  # no hosted docs yet; `freezelint explain CODE` prints them

# Pseudo-code for files that could not be read or parsed.
PARSE_ERROR_CODE = "FRZ000"


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


PARSE_ERROR_INFO = RuleInfo(
    code=PARSE_ERROR_CODE,
    name="unreadable-file",
    summary="The file could not be read or parsed.",
    severity=Severity.ERROR,
    default_enabled=True,
    fixable=None,
    doc=(
        "## What it does\n"
        "Reports a file freezelint could not lint: it does not parse, is not UTF-8,\n"
        "is too large, or could not be read. The rest of the run goes on; the exit\n"
        "code is 2.\n"
    ),
    kind="internal",
)

_CACHE: Optional[Dict[str, RuleInfo]] = None


def all_rules() -> Dict[str, RuleInfo]:
    """code -> RuleInfo, sorted by code."""
    global _CACHE
    if _CACHE is None:
        from freezelint.static.rules import load_rules

        infos = [PARSE_ERROR_INFO]
        infos += [cls.info() for cls in load_rules()]
        try:
            from freezelint.runtime.codes import RUNTIME_CODES
        except ImportError:  # runtime metadata is optional for the static CLI
            RUNTIME_CODES = []
        infos += list(RUNTIME_CODES)
        _CACHE = {i.code: i for i in sorted(infos, key=lambda i: i.code)}
    return _CACHE


def get(code: str) -> Optional[RuleInfo]:
    return all_rules().get(code)
