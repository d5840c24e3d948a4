"""SARIF 2.1.0, with every known rule in `tool.driver.rules`."""

from __future__ import annotations

import json
from typing import Sequence

from freezelint import __version__
from freezelint.findings import Finding, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(findings: Sequence[Finding]) -> str:
    from freezelint.registry import all_rules

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
            res["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path.replace("\\", "/")},
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
                        "informationUri": "https://pypi.org/project/freezelint/",
                        "rules": [
                            {
                                "id": r.code,
                                "name": r.name,
                                "shortDescription": {"text": r.summary},
                                "fullDescription": {"text": r.short_doc},
                                "help": {"text": r.doc, "markdown": r.doc},
                                "defaultConfiguration": {"level": _LEVEL[r.severity], "enabled": r.default_enabled},
                                "properties": {"kind": r.kind, "fixable": r.fixable},
                            }
                            for r in rules
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
