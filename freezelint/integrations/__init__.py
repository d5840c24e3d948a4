"""Trainer callbacks that audit real training runs.

    from freezelint.integrations.lightning import FreezeAuditCallback     # Lightning
    from freezelint.integrations.transformers import FreezeAuditCallback  # HF Trainer

This package imports nothing at import time: each submodule imports its trainer
(and torch) only when it is imported itself, so `import freezelint` never
pulls in Lightning or transformers.
"""

__all__: list = []
