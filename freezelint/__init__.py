"""freezelint: catch PyTorch freezing mistakes.

Importing this package imports neither torch nor libcst: the static CLI must
start fast, and the runtime auditor is loaded only when asked for
(`from freezelint.runtime import audit_step`).
"""

__version__ = "0.1.0"

from freezelint.findings import Applicability, Edit, Finding, Fix, Severity  # noqa: E402

__all__ = ["Applicability", "Edit", "Finding", "Fix", "Severity", "__version__"]
