"""Can frozen parameters still hold gradients an optimizer applies? Shared by FRZ201, FRZ202 and FRZ209.

Facts about one `flow.Timeline`: before torch 2.0, `zero_grad()` defaults to
`set_to_none=False` (zero-filled gradients, which momentum, Adam state and weight
decay still act on); the project's torch comes from `ProjectIndex.torch_max`.
A freeze inside a loop that runs `backward()` and `step()` is "between steps":
walking the loop body round from the freeze, a backward reached before any
`zero_grad` left gradients on the frozen parameters, and a step reached before
the next `zero_grad` applies them.
"""

from __future__ import annotations

import ast
from typing import List, Optional

from freezelint.static.flow import timeline as flow


def zero_fills(z: flow.Event, project) -> bool:
    """This `zero_grad` leaves zero tensors in `.grad`: `set_to_none=False`, or the default before torch 2.0."""
    return z.mode is False or (z.mode is None and project.torch_before(2, 0))


def had_grads(tl: flow.Timeline, f: flow.Event) -> bool:
    return any(b.index < f.index or (set(b.loops) & set(f.loops)) for b in tl.of(flow.BACKWARD))


def stale_before_step(tl: flow.Timeline, f: flow.Event) -> bool:
    """In source order: a backward, no zero_grad, this freeze, no zero_grad, a step (the step applies them)."""
    steps = tl.after(f, flow.STEP)
    if not steps or tl.between(f, steps[0], flow.ZERO_GRAD):
        return False
    return any(not tl.between(b, f, flow.ZERO_GRAD) for b in tl.before(f, flow.BACKWARD))


def running_loop(tl: flow.Timeline, f: flow.Event) -> Optional[int]:
    """The innermost loop around `f` whose body runs both `backward()` and an optimizer step."""
    for loop in reversed(f.loops):
        inside = [e for e in tl.events if loop in e.loops]
        if any(e.kind == flow.BACKWARD for e in inside) and any(e.kind == flow.STEP for e in inside):
            return loop
    return None


def _round_from(events: List[flow.Event], f: flow.Event, backwards: bool) -> List[flow.Event]:
    """The loop's events in the order one pass round the body meets them, starting next to `f`."""
    i = events.index(f)
    order = events[i + 1:] + events[:i] if not backwards else list(reversed(events[:i])) + list(reversed(events[i + 1:]))
    return order


def grads_applied_in_loop(tl: flow.Timeline, f: flow.Event, loop: int) -> bool:
    """Going round `loop` from `f`: a backward precedes it with no zero_grad between, and a step follows
    before any zero_grad. Events in another arm of an `if` than the freeze's count (a later iteration may
    take it); a zero_grad under any branch counts as clearing (precision first)."""
    events = [e for e in tl.events if loop in e.loops and e.kind in (flow.BACKWARD, flow.STEP, flow.ZERO_GRAD) or e is f]
    if not any(e.kind == flow.ZERO_GRAD for e in events):
        return False  # zero_grad lives in some helper we cannot see: say nothing
    grads = False
    for e in _round_from(events, f, backwards=True):
        if e.kind == flow.ZERO_GRAD:
            break
        if e.kind == flow.BACKWARD:
            grads = True
            break
    if not grads:
        return False
    for e in _round_from(events, f, backwards=False):
        if e.kind == flow.ZERO_GRAD:
            return False
        if e.kind == flow.STEP:
            return True
    return False


def clears_by_hand(tl: flow.Timeline, opt_name: Optional[str]) -> bool:
    """The scope clears gradients or optimizer state itself: `p.grad = None`, `optimizer.state...`."""
    for node in ast.walk(tl.node):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "grad" for t in node.targets
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "state" and opt_name:
            base = node.value
            if isinstance(base, ast.Attribute) and base.attr == opt_name.rsplit(".", 1)[-1]:
                return True
            if isinstance(base, ast.Name) and base.id == opt_name.rsplit(".", 1)[-1]:
                return True
    return False
