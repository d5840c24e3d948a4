"""The FRZ106 / FRZ107 findings at a trainer's `x.train()` (not a rule module: the name does not start with `frz`).

`construction.train_sites` says which training `train()` calls receive an object whose construction
put some of it in eval mode (FRZ107: the call undoes it) or froze BatchNorm layers of it (FRZ106: the
call leaves them updating their statistics); the wording of both lives here, next to each other.
"""

from __future__ import annotations

from typing import List

from freezelint.static.flow import construction
from freezelint.static.summaries.functions import EVAL, FREEZE


def _short(q: str) -> str:
    return q.rsplit(".", 1)[-1]


def _how(a: construction.Active) -> str:
    e = a.effect
    where = f"`self.{e.method}()`" if e.method else (f"`self.{e.path}" if e.path else "`self") + (
        ".eval()`" if e.kind == EVAL else ".requires_grad_(False)`")
    cond = f" when built with `{a.condition}`" if a.condition else ""
    return f"{where} in `{_short(a.effect.owner)}.__init__`{cond}"


def report_evals_undone(rule) -> None:
    """FRZ107: the construction put something in eval mode; this training `train()` switches it back."""
    for site in construction.train_sites(rule.facts):
        evals = [a for a in site.effects if a.effect.kind == EVAL]
        if not evals:
            continue
        cls = _short(site.built.cls)
        recv = rule.ctx.code(site.event.node.func.value).strip()
        first = evals[0].effect
        redo = f"{first.method}()" if first.method else (f"{first.path}.eval()" if first.path and "*" not in first.path else "eval()")
        rule.report(
            site.event.node,
            f"`{recv}.train()` switches back to training mode what building `{cls}` put in eval mode "
            f"({_how(evals[0])}); `{cls}` does not override `train()`, so from here on its BatchNorm layers "
            f"update their running statistics and dropout is live again; re-apply it after this call "
            f"(`{redo}` on the model) or override `train()` in `{cls}`: `super().train(mode)` then `self.{redo}`",
            statement=site.event.stmt,
        )


def report_frozen_batchnorm_live(rule) -> None:
    """FRZ106: the construction froze BatchNorm layers; this training `train()` leaves them updating statistics."""
    table = rule.facts.project.class_table
    for site in construction.train_sites(rule.facts):
        evaluated = [a.effect.path for a in site.effects if a.effect.kind == EVAL]
        frozen: List[construction.Active] = [
            a for a in site.effects
            if a.effect.kind == FREEZE and a.effect.path and not evaluated
            and construction.holds_batchnorm_below(table, site.built, a.effect.path) is True
        ]
        if not frozen:
            continue
        cls = _short(site.built.cls)
        recv = rule.ctx.code(site.event.node.func.value).strip()
        paths = ", ".join(f"`self.{a.effect.path}`" for a in frozen[:3]) + (" and more" if len(frozen) > 3 else "")
        rule.report(
            site.event.node,
            f"`{recv}.train()` puts in training mode the BatchNorm layers that `{cls}.__init__` froze ({paths}): "
            f"`requires_grad=False` keeps their weights, but in training mode they normalise with batch statistics "
            f"and overwrite their running statistics at every step; `{cls}` does not override `train()`: put them "
            f"in eval mode after this call (`{recv}.apply(set_bn_eval)` with a function calling `m.eval()` on each "
            f"BatchNorm) or override `train()` in `{cls}`, or say the live statistics are deliberate with `# noqa: FRZ106`",
            statement=site.event.stmt,
        )
