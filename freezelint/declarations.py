"""What the code declares frozen or trainable, as plain records: the seam between the two passes.

The static pass (`freezelint.static.run.intent`) reads declarations from the code (its flow timelines
and its FRZ001/FRZ002/FRZ101 judgements); the runtime runner (`freezelint.runtime.run_intent`) turns
them into `frozen=` / `trainable=` selectors for the model it audits. Neither side imports the other
through this module: it imports nothing of freezelint (like `rule_info.RuleInfo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Declaration:
    """One freeze (or unfreeze) the code writes, where it writes it, and how."""

    kind: str  # "frozen" | "trainable"
    path: str  # the attribute path as written, aliases resolved: "model.backbone", "self.encoder.layer.*"
    file: str
    line: int
    col: int
    how: str  # "requires_grad_(False)", "`.requires_grad = False` on a module (FRZ001)", "eval() meant as a freeze (FRZ101)"
    code: str = ""  # the statement's first line, stripped
    class_name: Optional[str] = None  # `self.` paths: the class whose method writes it
    function: Optional[str] = None  # the function it is written in (None: module level)
    conditional: bool = False  # under an `if`, or a loop other than one over parameters/modules: may not run

    @property
    def root(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def rest(self) -> str:
        """The path below its root variable (`model.backbone` -> `backbone`; "" for the root itself)."""
        return self.path.split(".", 1)[1] if "." in self.path else ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


__all__ = ["Declaration"]
