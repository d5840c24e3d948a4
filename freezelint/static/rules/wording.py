"""How messages name what an event changed: the user's own expressions, never flow's paths.

Flow paths are an internal notation: `model.*` ("some submodule of model", the variable of a
loop over `model.modules()` or over a list of modules) and `model.layers.[0]`. A message names
the Python that reaches the module (`model.layers[0]`), or the user's own loop variable and
what it runs over (`block` (`model.layer3`, `model.layer4`)), or words it without code.
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import List, Optional, Sequence

from freezelint.static.flow import timeline as flow


def python_path(path: Optional[str]) -> Optional[str]:
    """The Python expression for an attribute path (`model.layers.[0]` -> `model.layers[0]`);
    None when a segment stands for "some submodule" (`*`) or the path is unknown."""
    if not path:
        return None
    segs = flow.segments(path)
    if "*" in segs or not segs[0].isidentifier():
        return None
    out = segs[0]
    for s in segs[1:]:
        if s.startswith("[") and s.endswith("]"):
            out += s
        elif s.isidentifier() and not keyword.iskeyword(s):
            out += "." + s
        elif s.isdigit():
            out += f"[{s}]"
        else:
            out += f"[{s!r}]"
    return out


def star_base(path: str) -> Optional[str]:
    """The Python for the part of a path before its first `*` (`model.backbone.*` -> `model.backbone`)."""
    segs = flow.segments(path)
    head = segs[: segs.index("*")] if "*" in segs else segs
    return python_path(".".join(head)) if head else None


_UNWRAPPED = re.compile(r"\.(?:module|_orig_mod)\b")
_PARAM_LOOPS = ("parameters", "named_parameters")


def written(path: Optional[str], nodes: Sequence[Optional[ast.AST]], facts) -> Optional[str]:
    """The user's own expression for the flow path `path`, found in `nodes` (the code that named
    it): one that reads `path` once DDP's `.module` and compile's `._orig_mod` are left out, as flow
    leaves them out. That is the Python that runs: a wrapper has no `backbone` of its own, so after
    `model = DDP(model)` advice says `model.module.backbone`, never `model.backbone`. Else the path
    as Python (`python_path`); None when it has none."""
    py = python_path(path)
    if py is None:
        return None
    for node in nodes:
        for n in ast.walk(node) if node is not None else ():
            if isinstance(n, (ast.Attribute, ast.Subscript)) and _UNWRAPPED.search(code := facts.code(n).strip()):
                if _UNWRAPPED.sub("", code) == py:
                    return code
    return py


def event_code(tl: flow.Timeline, ev: flow.Event) -> List[ast.AST]:
    """The code that names what an event acts on: its own node (a helper's call site, when
    spliced), and the module of the loop over its parameters (`for p in X.parameters():`)."""
    out: List[ast.AST] = [ev.node]
    loop = enclosing_loop(tl, ev)
    it = loop.iter if loop is not None else None
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _PARAM_LOOPS:
        out.append(it.func.value)
    return out


def enclosing_loop(tl: flow.Timeline, ev: flow.Event, outer: int = 0) -> Optional[ast.For]:
    """The innermost `for` statement around the event in its own scope (`outer`: that many loops
    further out); None when spliced from a helper."""
    if len(ev.loops) <= outer or ev.via is not None:
        return None
    want = ev.loops[-1 - outer]
    for node in ast.walk(tl.node):
        if id(node) == want:
            return node if isinstance(node, ast.For) else None
    return None


def receiver(ev: flow.Event) -> Optional[ast.expr]:
    """What the event's node acts on: `block` in `block.requires_grad_(True)` or `p.requires_grad = True`."""
    node = ev.node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value
    if isinstance(node, ast.Attribute):
        return node.value
    return None


def loop_list(loop: Optional[ast.For], facts) -> List[str]:
    """The source of each element when the loop runs over a literal list or tuple (`[model.layer3, model.layer4]`)."""
    if loop is None or not isinstance(loop.iter, (ast.List, ast.Tuple)):
        return []
    return [facts.code(e) for e in loop.iter.elts]


def subject(tl: flow.Timeline, ev: flow.Event, facts) -> str:
    """Markdown naming what the event changed: "`model.layer4`", "`block` (`model.layer3`,
    `model.layer4`)", "`m` (some submodules of `model`)" or "some submodules of `model`"."""
    py = written(ev.target, event_code(tl, ev), facts)  # as written: `ddp.module[0]`, not the path `ddp[0]`
    recv = receiver(ev) if ev.via is None else None
    if py is not None:
        return f"`{py}`"
    base = star_base(ev.target or "")
    rest = f"some submodules of `{base}`" if base else "some submodules"
    loop = enclosing_loop(tl, ev)
    it = loop.iter if loop is not None else None
    if (
        isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("parameters", "named_parameters")
        and isinstance(it.func.value, ast.Name)
    ):  # `for p in child.parameters()`: name the module, `child`
        recv, loop = it.func.value, enclosing_loop(tl, ev, 1)
    if isinstance(recv, ast.Name) and loop is not None:
        items = loop_list(loop, facts) if _binds(loop, recv.id) else []
        shown = ", ".join(f"`{c}`" for c in items) if items else rest
        return f"`{recv.id}` ({shown})"
    return rest


def verb(who: str) -> str:
    """"is" after one named expression, "are" after "some submodules ..." or "the parameters ..."."""
    return "are" if who.startswith(("some ", "the ")) else "is"


def _binds(loop: ast.For, name: str) -> bool:
    return isinstance(loop.target, ast.Name) and loop.target.id == name


__all__ = ["enclosing_loop", "event_code", "loop_list", "python_path", "receiver", "star_base", "subject", "verb", "written"]
