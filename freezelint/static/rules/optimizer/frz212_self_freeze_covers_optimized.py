from __future__ import annotations

import ast
from typing import List, Optional

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.parse.astutil import FUNCTION_NODES, dotted_name
from freezelint.static.rules.base import Rule


# methods that run before training: a freeze there is in force when the optimizer steps
_SET_UP = frozenset({"__init__", "setup", "configure_model", "on_fit_start", "on_train_start"})


class SelfFreezeCoversOptimized(Rule):
    """
    ## What it does
    Flags `self.requires_grad_(False)` in a module class (a
    LightningModule, any `nn.Module`) whose optimizer is built only over
    some of its own submodules (`configure_optimizers` returning an
    optimizer over `self.unet.parameters()`), when nothing in the class or
    its file sets those submodules trainable again afterwards.

    ## Why is this bad?
    `self.requires_grad_(False)` freezes every parameter of the module,
    the submodules it trains included. When the line runs, every
    parameter the optimizer holds is frozen: nothing trains (Lightning
    fails at the first `backward()`, or a run with another trainable loss
    term silently leaves the part untouched). It is usually meant for one
    sibling: `if not args.train_text_encoder: self.requires_grad_(False)`
    where `self.text_encoder.requires_grad_(False)` was meant
    (IDEA-CCNL/Fengshenbang-LM#275).

    At run time: FRZ508 (the optimizer holds frozen parameters) and FRZ509
    (no parameter received any gradient).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    class DreamBooth(nn.Module):
        def __init__(self, train_text_encoder):
            super().__init__()
            self.text_encoder = nn.Linear(8, 8)
            self.unet = nn.Linear(8, 8)
            if not train_text_encoder:
                self.requires_grad_(False)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.unet.parameters(), lr=1e-5)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    class DreamBooth(nn.Module):
        def __init__(self, train_text_encoder):
            super().__init__()
            self.text_encoder = nn.Linear(8, 8)
            self.unet = nn.Linear(8, 8)
            if not train_text_encoder:
                self.text_encoder.requires_grad_(False)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.unet.parameters(), lr=1e-5)
    ```
    """

    code = "FRZ212"
    name = "self-freeze-covers-optimized"
    summary = "`self.requires_grad_(False)` also freezes the submodules the class's own optimizer trains"
    severity = Severity.ERROR
    triggers = ("self.requires_grad_(", "self.freeze()")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        methods = [m for m in node.body if isinstance(m, FUNCTION_NODES)]
        if not methods:
            return
        ff = flow_file.file_flow(self.facts)
        tls = {m.name: ff.timeline(m, follow=False) for m in methods}
        freezes = [(m, e) for m in methods if m.name in _SET_UP for e in tls[m.name].of(flow.FREEZE)
                   if e.target == "self" and e.whole and not e.via]
        if not freezes:
            return
        sources = self._sources(methods, tls)
        if not sources:
            return
        for m, fr in freezes:
            if self._unfrozen_later(node, m, fr, tls, sources):
                continue
            self._report(node, fr, sources, methods)

    def _sources(self, methods, tls) -> List[str]:
        """The `self.<path>` the class's optimizers take (all of them strictly below `self`), or []."""
        opts = [e for m in methods for e in tls[m.name].of(flow.OPT)]
        paths: List[str] = []
        if opts:
            for o in opts:
                if not o.over:
                    return []
                paths.extend(p for p, _ in o.over)
        else:
            fn = next((m for m in methods if m.name == "configure_optimizers"), None)
            if fn is None:
                return []
            for n in ast.walk(fn):  # handed to a helper of another file: the parameters it names
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("parameters", "named_parameters"):
                    paths.append(dotted_name(n.func.value) or "?")
        if not paths or any(p is None or not p.startswith("self.") or "*" in p for p in paths):
            return []
        return sorted(set(paths))

    def _unfrozen_later(self, cls: ast.ClassDef, m, fr: flow.Event, tls, sources: List[str]) -> bool:
        """Something sets (part of) what the optimizer holds trainable after the freeze: later in the same
        method, in another method of the class, or anywhere in the file through another name."""
        attrs = {flow.segments(p)[1] for p in sources}
        for name, tl in tls.items():
            unfreezes = tl.after(fr, flow.UNFREEZE) if name == m.name else tl.of(flow.UNFREEZE)
            if name != m.name:
                unfreezes += [e for e in tl.of(flow.FREEZE, flow.UNFREEZE) if e.target is None]  # a helper we cannot place
            if any(e.target is None or e.target == "self" or any(flow.overlap(e.target, p) for p in sources) for e in unfreezes):
                return True
        ff = flow_file.file_flow(self.facts)
        scopes = [self.facts.module] + [n for n in ast.walk(self.facts.module) if isinstance(n, FUNCTION_NODES)
                                        and self.facts.scope_of.get(id(n)) is not None
                                        and self.facts.scope_of[id(n)].class_name is None]
        for scope in scopes:  # a script of this file setting `model.unet` trainable (another class's `self` is not ours)
            for e in ff.timeline(scope, follow=False).of(flow.UNFREEZE):
                segs = flow.segments(e.target) if e.target else []
                if segs and segs[0] != "self" and attrs & set(segs[1:]) and self._may_be(cls, e.node, scope):
                    return True
        return False

    def _may_be(self, cls: ast.ClassDef, node: ast.AST, scope_node: ast.AST) -> bool:
        """The unfrozen path's root may be an instance of `cls` (its kind names no other class)."""
        root = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else node
        while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if not isinstance(root, ast.Name):
            return True
        scope = self.facts.scope_of.get(id(scope_node), self.facts.module_scope)
        k = self.facts.kind_of(root, scope)
        name = k.detail if k.is_module() and isinstance(k.detail, str) else None
        return name is None or name.rsplit(".", 1)[-1] == cls.name

    def _report(self, cls: ast.ClassDef, fr: flow.Event, sources: List[str], methods) -> None:
        held = ", ".join(f"`{p}`" for p in sources[:3]) + (" ..." if len(sources) > 3 else "")
        where = "its optimizer" if not any(m.name == "configure_optimizers" for m in methods) else "`configure_optimizers`"
        cond = f" (`{self.ctx.code(fr.guards[-1]).strip()}`)" if fr.guards else ""
        meant = _meant_part(cls, fr)
        instead = (f"freeze only the part meant: `self.{meant}.requires_grad_(False)`" if meant else
                   "freeze only the submodules meant to stay fixed, each with its own `requires_grad_(False)`")
        self.report(
            fr.node,
            f"`{self.ctx.code(fr.node).strip()}` freezes all of `{cls.name}`, {held} included, which {where} "
            f"trains: when it runs{cond}, every parameter the optimizer holds is frozen and nothing trains; {instead}",
            statement=fr.stmt,
        )


def _meant_part(cls: ast.ClassDef, fr: flow.Event) -> Optional[str]:
    """The submodule the freeze's condition names (`train_text_encoder` -> `text_encoder`), not one it trains."""
    attrs = {
        t.attr for n in ast.walk(cls) if isinstance(n, ast.Assign) for t in n.targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    }
    words = [n.attr if isinstance(n, ast.Attribute) else n.id for g in fr.guards for n in ast.walk(g)
             if isinstance(n, (ast.Attribute, ast.Name))]
    found = sorted({a for a in attrs for w in words if a in w and len(a) > 2}, key=len, reverse=True)
    return found[0] if len(found) == 1 or (found and all(f in found[0] for f in found)) else None
