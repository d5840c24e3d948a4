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
from freezelint.report.file_places import FilePlaces, RawSource, cell_prefix

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


def render(
    findings: Sequence[Finding], docs_url: Optional[str] = None, root: Optional[str] = None, raw_of: Optional[RawSource] = None
) -> str:
    """`raw_of(path)`: a notebook's JSON text (default: read from disk); a notebook finding's region
    is its line in that text, its cell and cell position are in `properties` and the message."""
    from freezelint.registry import all_rules, homepage, rule_url

    places = FilePlaces(raw_of)

    root = os.path.abspath(root or os.getcwd())
    rules = list(all_rules().values())
    index = {r.code: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        res = {
            "ruleId": f.code,
            "level": _LEVEL[f.severity],
            "message": {"text": cell_prefix(f) + f.message},
        }
        if f.code in index:
            res["ruleIndex"] = index[f.code]
        if f.source == "static":
            uri, base = artifact_uri(f.path, root)
            location = {"uri": uri, **({"uriBaseId": base} if base else {})}
            physical: dict = {"artifactLocation": location}
            span = places.span(f)
            if span is not None:  # a notebook line no longer in the file: the file alone
                physical["region"] = dict(zip(("startLine", "startColumn", "endLine", "endColumn"), span))
            res["locations"] = [{"physicalLocation": physical}]
            if f.cell is not None:
                res["properties"] = {
                    "cell": f.cell, "cellLine": f.line, "cellColumn": f.col, "cellEndLine": f.end_line, "cellEndColumn": f.end_col,
                }
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
