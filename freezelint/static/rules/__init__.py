"""Static rules, one module per rule in a package per family (api, modes, optimizer, selection);
they register by subclassing `Rule`."""

from __future__ import annotations

import importlib
import pkgutil
from typing import List, Type


_LOADED: List[Type["Rule"]] = []  # noqa: F821


def load_rules() -> List[Type["Rule"]]:  # noqa: F821
    """Import every rule module in this package and return the Rule classes, by code (listed once per process)."""
    from freezelint.static.rules.base import Rule

    if not _LOADED:
        for family in pkgutil.iter_modules(__path__):
            if family.ispkg:
                package = importlib.import_module(f"{__name__}.{family.name}")
                for mod in pkgutil.iter_modules(package.__path__):
                    if mod.name.startswith("frz"):
                        importlib.import_module(f"{package.__name__}.{mod.name}")
        _LOADED.extend(sorted(Rule.registry.values(), key=lambda r: r.code))
    return list(_LOADED)
