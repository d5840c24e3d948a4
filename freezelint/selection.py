"""Rule selectors (codes, prefixes, ALL) as ruff ranks them: the most specific wins."""

from __future__ import annotations

from typing import FrozenSet, Iterable, Sequence, Tuple

from freezelint.errors import ConfigError


def matches_selector(code: str, selector: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def specificity(code: str, selectors: Iterable[str]) -> int:
    best = -1
    for s in selectors:
        if matches_selector(code, s):
            best = max(best, 0 if s == "ALL" else len(s))
    return best


def static_codes_matching(selectors: Iterable[str]) -> FrozenSet[str]:
    from freezelint.registry import all_rules

    sel = tuple(selectors)
    return frozenset(c for c, r in all_rules().items() if r.kind == "static" and specificity(c, sel) >= 0)


def require_static_selection(select: Sequence[str], extend_select: Sequence[str], where: str) -> None:
    """A `select` that matches no static rule would run nothing and pass: refuse it."""
    if not static_codes_matching(tuple(select) + tuple(extend_select)):
        shown = ", ".join(select) if select else "(empty)"
        raise ConfigError(
            f"{where} {shown} selects no static rule (FRZ000 is always on; FRZ5xx are runtime codes, "
            "reported by `freezelint audit`); see `freezelint rules`"
        )


def validate_selectors(selectors: Iterable[str], where: str) -> Tuple[str, ...]:
    from freezelint.registry import all_rules

    codes = list(all_rules())
    out = []
    for raw in selectors:
        s = raw.strip().upper()
        if not s:
            continue
        if s != "ALL" and not any(c.startswith(s) for c in codes):
            raise ConfigError(f"{where}: unknown rule selector `{raw.strip()}` (see `freezelint rules`)")
        out.append(s)
    return tuple(out)
