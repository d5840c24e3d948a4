from __future__ import annotations

import ast

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import grad_state
from freezelint.static.fix.codemods import plans
from freezelint.static.rules import wording
from freezelint.static.rules.flow_rule import FlowRule


class OptimizerBeforeFreeze(FlowRule):
    """
    ## What it does
    Flags parameters frozen after an optimizer was built over them, when the
    optimizer is not rebuilt afterwards in the same function. It is an error
    when the optimizer can still move them: a freeze between `backward()` and
    `step()` (stale gradients), or zero-filled gradients (`zero_grad(set_to_none=False)`,
    or plain `zero_grad()` on a project whose torch requirement is older than
    2.0, where that was the default). Otherwise it is a warning: they cannot
    move, but they sit in the optimizer's groups. A freeze in the middle of a
    training loop that keeps stale gradients is FRZ209's.

    An optimizer the framework builds is not one of the function's: a Hugging
    Face `TrainerCallback` that freezes in `on_train_begin` or a later hook runs
    after `train()` built the Trainer's optimizer on every transformers version
    (4.0 to 5.25), and it is not reported. Those parameters stay in the Trainer's
    groups and get no gradient, so they do not move, and unfreezing them in a
    later hook trains them again, which is the point of that pattern (FRZ203
    reports the unfreeze when the optimizer lacks them).

    ## Why is this bad?
    The optimizer keeps holding the "frozen" parameters. Any gradient they
    still have lets momentum and weight decay keep moving them; without one,
    their optimizer state is wasted memory, and weight decay applies again the
    moment they get a gradient (an unfreeze, a `set_to_none=False` somewhere).
    Freezing is a statement about what the optimizer should own, so it
    belongs before the optimizer is built.

    At run time: FRZ508 (the optimizer holds frozen parameters), FRZ501 and
    FRZ502 (they have a gradient, they moved).

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet18()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for param in model.layer1.parameters():
        param.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet18()
    for param in model.layer1.parameters():
        param.requires_grad = False
    optimizer = torch.optim.SGD(
        (p for p in model.parameters() if p.requires_grad), lr=0.1, momentum=0.9
    )
    ```

    ## Fix safety
    The fix moves the optimizer's construction (a statement of its own binding a
    plain name) to just after the statement of its block that holds the freeze,
    with its parameters wrapped in `filter(lambda p: p.requires_grad, ...)` when
    it took `model.parameters()`. It is offered only when nothing in between
    uses the optimizer, rebinds a name its arguments read or assigns below one
    (other than `requires_grad`), and never for a list of parameter groups. It is
    unsafe: the optimizer no longer holds the frozen parameters.
    """

    code = "FRZ201"
    checks_lifecycles = True
    name = "optimizer-before-freeze"
    summary = "parameters frozen after an optimizer was built over them"
    severity = Severity.WARNING
    triggers = ("requires_grad", "freeze")
    fixable = "unsafe"

    def check(self, tl: flow.Timeline) -> None:
        opts = tl.of(flow.OPT)
        if not opts:
            return
        project = self.facts.project
        zero_fill = [z for z in tl.of(flow.ZERO_GRAD) if grad_state.zero_fills(z, project)]
        for f in tl.of(flow.FREEZE):
            if f.target is None:
                continue
            holders = [
                o for o in tl.before(f, flow.OPT)
                if any(how in (flow.ALL, flow.FILTER) and flow.overlap(t, f.target) for t, how in o.over)
                and not isinstance(o.node, ast.ClassDef)  # a trainer's own optimizer (lifecycle.py): not built here
            ]
            if not holders or tl.after(f, flow.OPT):
                continue
            o = holders[-1]
            loop = grad_state.running_loop(tl, f)
            if (
                loop is not None and loop not in o.loops and grad_state.grads_applied_in_loop(tl, f, loop)
                and not grad_state.clears_by_hand(tl, o.name) and not any(loop in x.loops for x in opts)
            ):
                continue  # FRZ209: frozen between steps of the running loop
            opt = o.name or "the optimizer"
            target = f.target
            why = []
            if zero_fill and grad_state.had_grads(tl, f):
                call = self.code_of(zero_fill[0].node)
                if zero_fill[0].mode is False:
                    why.append(f"`{call}` keeps zero-filled grads on them")
                else:
                    why.append(f"`{call}` keeps zero-filled grads on them (its default before torch 2.0, which this project targets)")
            if grad_state.stale_before_step(tl, f) and not grad_state.clears_by_hand(tl, o.name):
                why.append("the freeze comes between `backward()` and `step()`, so their grads are still applied")
            who = wording.subject(tl, f, self.facts)  # the user's own expression, never a flow path
            its = "its" if wording.verb(who) == "is" else "their"
            head = (f"{who} {wording.verb(who)} frozen{flow.describe(f)} after `{opt}` was built over {its} "
                    f"parameters ({self.code_of(o.node)})")
            tail = "freeze first, then build the optimizer over `filter(lambda p: p.requires_grad, ...)`"
            codemod = plans.move_optimizer(tl, o, f)
            if why:
                self.report_at(f, f"{head}, so `{opt}` still holds and can move them: {' and '.join(why)}; {tail}",
                               severity=Severity.ERROR, codemod=codemod)
            else:
                self.report_at(
                    f,
                    f"{head}: no gradient reaches them after the freeze, so they do not move, but they stay in `{opt}`'s groups "
                    f"(state kept for them, weight decay applied if they ever get a gradient again); {tail}",
                    codemod=codemod,
                )
