"""SARIF 2.1.0, with every known rule in `tool.driver.rules`.

Paths under the working directory are relative URIs against `%SRCROOT%`
(declared in `originalUriBaseIds`, as GitHub code scanning expects); others are
absolute `file://` URIs. Both are percent-encoded (RFC 3986), so a space, `%`
or a non-ASCII character stays a valid `uri-reference`. tests/test_sarif.py
validates the output against the official schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence, Tuple
from urllib.parse import quote

from freezelint import __version__
from freezelint.findings import Finding, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SRCROOT = "%SRCROOT%"


def _root_uri(root: str) -> str:
    uri = Path(root).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def artifact_uri(path: str, root: str) -> Tuple[str, Optional[str]]:
    """(uri, uriBaseId) for a reported path."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, root) if os.path.splitdrive(absolute)[0] == os.path.splitdrive(root)[0] else ".."
    if rel != ".." and not rel.startswith(".." + os.sep):
        posix = rel.replace(os.sep, "/")
        return quote(posix, safe="/", encoding="utf-8", errors="surrogateescape"), SRCROOT
    return Path(absolute).as_uri(), None


def render(findings: Sequence[Finding], docs_url: Optional[str] = None, root: Optional[str] = None) -> str:
    from freezelint.registry import all_rules, homepage, rule_url

    root = os.path.abspath(root or os.getcwd())
    rules = list(all_rules().values())
    index = {r.code: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        res = {
            "ruleId": f.code,
            "level": _LEVEL[f.severity],
            "message": {"text": f.message},
        }
        if f.code in index:
            res["ruleIndex"] = index[f.code]
        if f.source == "static":
            uri, base = artifact_uri(f.path, root)
            location = {"uri": uri, **({"uriBaseId": base} if base else {})}
            res["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": location,
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.col,
                            "endLine": f.end_line,
                            "endColumn": f.end_col,
                        },
                    }
                }
            ]
        else:
            res["locations"] = [{"logicalLocations": [{"fullyQualifiedName": f.obj or "", "kind": "member"}]}]
        results.append(res)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "freezelint",
                        "version": __version__,
                        "informationUri": homepage(),
                        "rules": [
                            {
                                "id": r.code,
                                "name": r.name,
                                "shortDescription": {"text": r.summary},
                                "fullDescription": {"text": r.short_doc},
                                "help": {"text": r.doc, "markdown": r.doc},
                                "helpUri": rule_url(r.code, docs_url),
                                "defaultConfiguration": {"level": _LEVEL[r.severity], "enabled": r.default_enabled},
                                "properties": {"kind": r.kind, "fixable": r.fixable},
                            }
                            for r in rules
                        ],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": _root_uri(root)}},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
