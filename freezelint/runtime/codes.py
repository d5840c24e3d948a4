"""The runtime auditor's codes: metadata here, user documentation in `code_docs.py`.

This module imports neither torch nor libcst: `freezelint rules`, `explain`,
`--select` and SARIF read it from the static CLI, which must start fast.
"""

from __future__ import annotations

from typing import Dict, List

from freezelint.findings import Severity
from freezelint.rule_info import RuleInfo
from freezelint.runtime.code_docs import DOCS

E, W = Severity.ERROR, Severity.WARNING


def _rule(code: str, name: str, summary: str, severity: Severity) -> RuleInfo:
    return RuleInfo(
        code=code,
        name=name,
        summary=summary,
        severity=severity,
        default_enabled=True,
        fixable=None,
        doc=DOCS[code].strip() + "\n",
        kind="runtime",
    )

RUNTIME_CODES: List[RuleInfo] = [
    _rule("FRZ501", "frozen-param-has-grad", "A frozen parameter has a gradient when optimizer.step() runs, or after the step.", E),
    _rule("FRZ502", "frozen-param-changed", "A frozen parameter's bytes changed during the step.", E),
    _rule("FRZ503", "frozen-buffer-changed", "A buffer of a frozen module (BatchNorm running statistics) changed during the step.", E),
    _rule("FRZ504", "declared-frozen-but-trainable", "A parameter declared frozen still has requires_grad=True at the step.", E),
    _rule("FRZ505", "trainable-param-not-in-optimizer", "A parameter that requires grad is in no optimizer param group.", E),
    _rule("FRZ506", "trainable-param-got-no-grad", "A trainable parameter held by the optimizer received no gradient.", W),
    _rule("FRZ507", "trainable-param-unchanged", "A trainable parameter with a gradient did not change during the step.", W),
    _rule("FRZ508", "frozen-param-in-optimizer", "The optimizer holds frozen parameters.", W),
    _rule("FRZ509", "grad-disabled-in-step", "Autograd was disabled during the step's forward, or no parameter received any gradient.", E),
    _rule("FRZ510", "selector-matches-nothing", "A frozen= or trainable= selector matched no parameter or module.", E),
    _rule("FRZ511", "ddp-registration-mismatch", "The requires_grad flags of a DDP-wrapped model differ from those DDP registered at construction.", E),
    _rule("FRZ512", "tied-param-conflict", "A parameter reachable under two names (tied weights) is frozen under one and trainable under the other.", E),
    _rule("FRZ513", "tensor-not-checked", "A parameter or buffer has no data to compare (meta device), so the audit cannot check it.", W),
]

RUNTIME_INFO: Dict[str, RuleInfo] = {r.code: r for r in RUNTIME_CODES}

__all__ = ["RUNTIME_CODES", "RUNTIME_INFO"]
