"""The one result type shared by the static pass and the runtime auditor.

A `Finding` holds no libcst node and no tensor, so it pickles across worker
processes, caches as JSON, and every reporter can format it.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Tuple


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Applicability(str, enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    """Replace the text between two 1-based (line, column) positions."""

    content: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to_json(self) -> dict:
        return {
            "content": self.content,
            "location": {"row": self.line, "column": self.col},
            "end_location": {"row": self.end_line, "column": self.end_col},
        }


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: Tuple[Edit, ...] = ()

    def to_json(self) -> dict:
        return {
            "applicability": self.applicability.value,
            "message": self.message,
            "edits": [e.to_json() for e in self.edits],
        }


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    severity: Severity = Severity.ERROR
    path: str = ""
    line: int = 1
    col: int = 1
    end_line: int = 1
    end_col: int = 1
    fix: Optional[Fix] = None
    source: str = "static"  # "static" | "runtime"
    obj: Optional[str] = None  # runtime: the dotted parameter/module name
    cell: Optional[int] = None  # notebooks: the 1-based cell (line and col are then in that cell), as ruff
    extra: Tuple[Tuple[str, Any], ...] = field(default=(), compare=False)

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.col, self.code, self.obj or "", self.message)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["fix"] = None if self.fix is None else self.fix.to_json()
        d.pop("extra", None)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Finding":
        fix = d.get("fix")
        if fix is not None:
            fix = Fix(
                Applicability(fix["applicability"]),
                fix.get("message", ""),
                tuple(
                    Edit(
                        e["content"],
                        e["location"]["row"],
                        e["location"]["column"],
                        e["end_location"]["row"],
                        e["end_location"]["column"],
                    )
                    for e in fix["edits"]
                ),
            )
        return cls(
            code=d["code"],
            name=d["name"],
            message=d["message"],
            severity=Severity(d["severity"]),
            path=d["path"],
            line=d["line"],
            col=d["col"],
            end_line=d["end_line"],
            end_col=d["end_col"],
            fix=fix,
            source=d.get("source", "static"),
            obj=d.get("obj"),
            cell=d.get("cell"),
        )
