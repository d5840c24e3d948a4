"""Turning per-tensor verdicts into few, grouped findings.

A check adds *candidates*: (code, severity, cause key) -> the parameter names it
applies to and a message function. One cause is one finding per module: the
names collapse to the shortest module prefixes they fully cover
(`selectors.collapse`), and when one cause still spans more than `GROUP_AFTER`
modules (the LoRA adapters of every block, the BatchNorm layers of a ResNet) it
becomes a single finding at their common prefix, with the count and a few
examples in the message and every name in `finding.extra["objects"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from freezelint.findings import Finding, Severity
from freezelint.runtime.codes import RUNTIME_INFO
from freezelint.runtime.selectors import collapse

GROUP_AFTER = 3
EXAMPLES = 3


@dataclass(frozen=True)
class Target:
    """Whom a message is about: `obj` (a module or parameter name, "" for the model),
    `n` parameters, and for a grouped finding the module names it spans."""

    obj: str
    n: int
    group: Tuple[str, ...] = ()

    @property
    def count(self) -> str:
        if self.group:
            return f" ({self.n} parameters in {len(self.group)} modules: {examples(self.group)})"
        return "" if self.n == 1 else f" ({self.n} parameters)"


MsgFn = Callable[[Target], str]


def examples(names: Sequence[str]) -> str:
    shown = ", ".join(names[:EXAMPLES])
    return shown + (f", ... ({len(names) - EXAMPLES} more)" if len(names) > EXAMPLES else "")


def common_prefix(names: Sequence[str]) -> str:
    parts = [n.split(".") for n in names]
    out: List[str] = []
    for column in zip(*parts):
        if len(set(column)) != 1:
            break
        out.append(column[0])
    # a full name is not its own group's prefix
    if out and any(len(p) == len(out) for p in parts) and len(set(names)) > 1:
        out = out[:-1]
    return ".".join(out)


def finding(code: str, sev: Severity, obj: Optional[str], message: str, objects: Sequence[str] = ()) -> Finding:
    extra = (("objects", tuple(objects)),) if objects else ()
    return Finding(
        code=code, name=RUNTIME_INFO[code].name, message=message, severity=sev,
        path="", source="runtime", obj=obj or None, extra=extra,
    )


class Candidates:
    def __init__(self, universe: Sequence[str]):
        self.universe = list(universe)
        self._by_key: Dict[Tuple[str, Severity, str], Tuple[List[str], MsgFn]] = {}

    def add(self, code: str, sev: Severity, key: str, names: Sequence[str], msg: MsgFn) -> None:
        names = list(names)
        if not names:
            return
        k = (code, sev, key)
        if k in self._by_key:
            self._by_key[k][0].extend(names)
        else:
            self._by_key[k] = (names, msg)

    def names(self, code: str, keys: Optional[Sequence[str]] = None) -> set:
        return {n for (c, _s, k), (ns, _m) in self._by_key.items() if c == code and (keys is None or k in keys) for n in ns}

    def drop(self, code: str, names: set) -> None:
        """Forget `names` for `code`: another finding already names their root cause."""
        for k in [k for k in self._by_key if k[0] == code]:
            kept = [n for n in self._by_key[k][0] if n not in names]
            if kept:
                self._by_key[k] = (kept, self._by_key[k][1])
            else:
                del self._by_key[k]

    def emit(self) -> List[Finding]:
        out = []
        for (code, sev, _key), (names, msg) in self._by_key.items():
            entries = collapse(names, self.universe)
            if len(entries) > GROUP_AFTER:
                objs = [o for o, _ in entries]
                target = Target(common_prefix(objs), sum(n for _, n in entries), tuple(objs))
                out.append(finding(code, sev, target.obj, msg(target), sorted(set(names))))
                continue
            for obj, n in entries:
                out.append(finding(code, sev, obj, msg(Target(obj, n))))
        return out


def grouped_modules(code: str, sev: Severity, modules: Sequence[str], msg: Callable[[str, Tuple[str, ...]], str]) -> List[Finding]:
    """Findings about modules (not parameters): one each, or one for all past GROUP_AFTER."""
    modules = sorted(modules)
    if len(modules) > GROUP_AFTER:
        obj = common_prefix(modules)
        return [finding(code, sev, obj, msg(obj, tuple(modules)), modules)]
    return [finding(code, sev, m, msg(m, ())) for m in modules]


__all__ = ["Candidates", "Target", "finding", "grouped_modules"]
