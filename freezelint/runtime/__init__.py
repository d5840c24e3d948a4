"""The runtime auditor: step the real model once and prove frozen stays frozen.

Importing this package imports torch; `freezelint` itself does not import it.

    from freezelint.runtime import FreezeAudit, audit_step, FreezeAuditError

    report = audit_step(model, optimizer, step, frozen=["backbone"])
    report.raise_for_findings()
    print(report.summary())
"""

# The names load lazily (PEP 562) so that `freezelint.runtime.codes` (read by
# `freezelint rules`) and the pytest plugin can be imported without torch.
_LAZY = {
    "AuditReport": "freezelint.runtime.report",
    "FreezeAudit": "freezelint.runtime.audit",
    "FreezeAuditError": "freezelint.runtime.report",
    "RunReport": "freezelint.runtime.run_report",
    "SummaryRow": "freezelint.runtime.report",
    "audit_step": "freezelint.runtime.audit",
    "watch": "freezelint.runtime.run_watch",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'freezelint.runtime' has no attribute {name!r}")


def __dir__():
    return __all__
