"""FRZ101's evidence from a loss: a pretrained network inside a loss module is a fixed feature extractor
(not a rule module: the name does not start with `frz`).

`self.eval()` (or `self.net.eval()`) in the `__init__` of a perceptual loss, on a network loaded there
with pretrained weights (`torch.hub.load`, `X.from_pretrained`, `pretrained=True`, `weights=...`), says
"this network stays fixed": a loss's network is never meant to train. `eval()` does not do that, so
its weights still get gradients through every loss computed with it. A class is a loss when its
name says so (`...Loss`, `Perceptual...`, `LPIPS`), a base is a torch loss, or a loss class of this
file builds it as an attribute (`self.perceptual_function = MedicalNetPerceptualSimilarity()`).
"""

from __future__ import annotations

import ast
import re
from typing import Optional

from freezelint.static.parse.astutil import dotted_name

_LOSS_NAME = re.compile(r"Loss(?![a-z])|Perceptual|LPIPS")
_SELF_RETURNING = frozenset({"eval", "to", "cuda", "cpu", "float", "half", "train"})


def loss_network_intent(facts, scope, target: str) -> Optional[str]:
    """Why an `eval()` of `target` in `scope` (an `__init__`) reads as a freeze: the sentence, or None."""
    cls = getattr(scope, "class_name", None)
    if cls is None or scope.func_name != "__init__" or not (target == "self" or target.count(".") == 1):
        return None
    infos = facts.classes.get(cls, [])
    if len(infos) != 1 or not facts.is_module_class(cls) or not _is_loss(facts, cls, infos[0]):
        return None
    attrs = infos[0].self_attrs
    names = [target.split(".", 1)[1]] if target != "self" else sorted(attrs)
    for name in names:
        for b in attrs.get(name, ()):
            how = _pretrained(facts, b.expr, b.scope) if b.scope is scope else None
            if how:
                return f"is in the constructor of the loss `{cls}`, on the pretrained `self.{name}` ({how}), which a loss never trains,"
    return None


def _is_loss(facts, cls: str, info) -> bool:
    if _LOSS_NAME.search(cls):
        return True
    for base in info.bases:
        q = facts.qualified(base, facts.module_scope) or dotted_name(base) or ""
        if q.startswith("torch.nn.modules.loss.") or _LOSS_NAME.search(q.rsplit(".", 1)[-1]):
            return True
    for owner, infos in facts.classes.items():  # built by a loss of this file
        if owner == cls or not _LOSS_NAME.search(owner):
            continue
        for i in infos:
            for bindings in i.self_attrs.values():
                if any(isinstance(b.expr, ast.Call) and (dotted_name(b.expr.func) or "").rsplit(".", 1)[-1] == cls for b in bindings):
                    return True
    return False


def _pretrained(facts, expr, scope) -> Optional[str]:
    """How a constructor call loads pretrained weights, in words; None when it does not say so."""
    while True:  # `vgg19(pretrained=True).features[:16].eval()`: the network it is taken from
        if isinstance(expr, (ast.Attribute, ast.Subscript)):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _SELF_RETURNING:
            expr = expr.func.value
        else:
            break
    if not isinstance(expr, ast.Call):
        return None
    qual = facts.qualified(expr.func, scope) or dotted_name(expr.func) or ""
    if qual == "torch.hub.load":
        return "`torch.hub.load`"
    if isinstance(expr.func, ast.Attribute) and expr.func.attr == "from_pretrained":
        return "`from_pretrained`"
    for k in expr.keywords:
        if k.arg == "pretrained" and not (isinstance(k.value, ast.Constant) and not k.value.value):
            return "`pretrained=`"
        if k.arg == "weights" and not (isinstance(k.value, ast.Constant) and k.value.value is None):
            return "`weights=`"
    return None
