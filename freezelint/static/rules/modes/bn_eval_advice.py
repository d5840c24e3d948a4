"""FRZ106's advice: how to put a frozen module holding BatchNorm in eval mode, in the code's own words,
without putting the parts set trainable after the freeze (a new head) in eval mode too."""

from __future__ import annotations

from typing import List

from freezelint.static.flow import timeline as flow

OUTS = (
    "keep it in eval mode from a `train()` override (or a `norm_eval`-style option), "
    "or say it is deliberate with `# noqa: FRZ106`"
)


def kept_training(tl: flow.Timeline, f: flow.Event) -> List[str]:
    """The parts of the frozen `f.target` set trainable after the freeze here: a new layer assigned below it
    (`model.fc = nn.Linear(...)`) or one unfrozen whole (`model.fc.requires_grad_(True)`). The frozen part is
    everything else, and an `eval()` of `f.target` alone would put them in eval mode too."""
    return sorted({
        e.target for e in tl.after(f, flow.HEAD, flow.UNFREEZE)
        if e.target and "*" not in e.target and e.target != f.target and flow.inside(e.target, f.target)
        and (e.kind == flow.HEAD or e.whole)
    })


def eval_advice(target: str, keep: List[str], verb: str, when: str = "") -> str:
    """`call `x.eval()``; with parts of x set trainable after its freeze, the eval of the frozen part alone."""
    if not keep:
        return f"{verb} `{target}.eval()`{when}"
    kept = " and ".join(f"`{k}`" for k in keep)
    again = "`, `".join(f"{k}.train()" for k in keep)
    return (
        f"{kept} {'is' if len(keep) == 1 else 'are'} set trainable after the freeze and `{target}.eval()` alone would put "
        f"{'it' if len(keep) == 1 else 'them'} in eval mode too: {verb} `{target}.eval()` then `{again}`{when} (or "
        f"`{target}.apply(set_bn_eval)`, with a function calling `m.eval()` on each BatchNorm whose parameters are all frozen)"
    )


def as_written(keep: List[str], target: str, own: str) -> List[str]:
    """Parts below the frozen path, spelled below its written form."""
    return [own + k[len(target):] for k in keep]
