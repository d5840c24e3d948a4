from __future__ import annotations

import ast
import re
from functools import cached_property
from typing import Iterator, Tuple

from freezelint.findings import Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import string_value
from freezelint.static.rules.selection import name_anchor
from freezelint.static.rules.flow_rule import FlowRule


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _membership_of(comp: ast.AST, var: str):
    """"not in" / "in" when `comp` is `<x> in var` / `<x> not in var`, else None."""
    if not (isinstance(comp, ast.Compare) and len(comp.ops) == 1):
        return None
    op, right = comp.ops[0], comp.comparators[0]
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, ast.Name) and right.id == var:
        return "not in" if isinstance(op, ast.NotIn) else "in"
    return None


def _name_tests(test: ast.AST, var: str) -> Iterator[Tuple[ast.Constant, str]]:
    """String literals `s` in `s in var` / `s not in var` tests (also through and/or/not and any(...))."""
    if isinstance(test, ast.BoolOp):
        for value in test.values:
            yield from _name_tests(value, var)
    elif isinstance(test, ast.UnaryOp):
        yield from _name_tests(test.operand, var)
    elif isinstance(test, ast.Compare):
        op = _membership_of(test, var)
        if op is not None and _is_str(test.left):
            yield test.left, op
    elif isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id in ("any", "all") and test.args:
        gen = test.args[0]
        if isinstance(gen, (ast.GeneratorExp, ast.ListComp)) and isinstance(gen.generators[0].iter, (ast.List, ast.Tuple)):
            op = _membership_of(gen.elt, var)
            if op is not None:
                for el in gen.generators[0].iter.elts:
                    if _is_str(el):
                        yield el, op


class UnanchoredNameMatch(FlowRule):
    """
    ## What it does
    Flags parameters selected for freezing or unfreezing by a substring test
    whose literal ends in a digit, such as `"layer1" in name`, when the
    model's names are known to collide with it:

    - an index name (`"blocks.1"`, `"layer.1"`, `"h.1"`, a bare `"1"`) in a
      file that builds or loads a model deep enough to have the longer
      numbers: a depth setting such as `depth=12` / `num_hidden_layers=24`
      in the file, or a library whose models have 12 or more numbered
      blocks (transformers, timm, open_clip, CLIP);
    - an attribute name (`"layer1"`, `"stage1"`) when the file also names
      the longer one (`layer10`, `self.stage12`).

    A ResNet's `"layer1"` (it only has `layer1` to `layer4`) is not flagged.

    The suggested anchor holds whether or not the names carry a prefix:
    `".encoder.layer.1." in "." + name`; for a model the knowledge base
    knows as a transformers base model (`AutoModel`, `BertModel`: names
    start with `encoder.`), `name.startswith("encoder.layer.1.")`.

    ## Why is this bad?
    `"layer1" in name` also matches `layer10`, `layer11`, ... and
    `"blocks.1" in name` matches `blocks.10` to `blocks.19`: deeper models
    freeze (or unfreeze) more than intended, silently.

    At run time: FRZ504 (declared frozen, still trainable) and FRZ510
    (a selector that matches nothing) check what the selection really did.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(12)])
    for name, param in model.named_parameters():
        if "blocks.1" in name:
            param.requires_grad = False
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(12)])
    for name, param in model.named_parameters():
        if "blocks.1." in name:
            param.requires_grad = False
    ```
    """

    code = "FRZ301"
    name = "unanchored-name-match"
    summary = "parameter selected by a substring ending in a digit that the model's longer numbers also match"
    severity = Severity.WARNING
    triggers = ("named_parameters", "named_modules", "named_children")

    @cached_property
    def _names(self) -> "_NameEvidence":
        """What this file says about its models' names, read at the first match that needs it (one rule instance per file)."""
        return _NameEvidence(self.facts)

    def check(self, tl: flow.Timeline) -> None:
        seen = set()
        for ev in tl.of(flow.FREEZE, flow.UNFREEZE):
            if ev.name_var is None or ev.via is not None:
                continue
            for g in ev.guards:
                for lit, op in _name_tests(g, ev.name_var):
                    value = string_value(lit)
                    if not value or not value[-1].isdigit() or id(lit) in seen:
                        continue
                    seen.add(id(lit))
                    longer = self._names.collision(value)
                    if longer is None:
                        continue
                    what = "freezing" if ev.kind == flow.FREEZE else "unfreezing"
                    dotted = value.isdigit() or ("." in value and self._names.prefixed)
                    scope = self.facts.scope_of.get(id(tl.node), self.facts.module_scope)
                    prefixed = name_anchor.names_prefixed(self.facts, scope, ev.target)  # from the knowledge base
                    anchored = name_anchor.anchored_test(value, op, ev.name_var, dotted, prefixed)
                    self.report_at(
                        ev,
                        f"`{self.ctx.code(lit)} {op} {ev.name_var}` also matches `{longer}` ({self._names.why(value)}): "
                        f"when {what}, its parameters are treated like those of `{value}`; anchor it: "
                        f"`{anchored}`",
                        node=lit,
                    )


_DEPTH = re.compile(
    r"\b(?:depth|n_layers?|num_layers|num_hidden_layers|num_blocks|n_blocks|vision_layers|text_layers|"
    r"transformer_layers|encoder_layers|decoder_layers|num_encoder_layers|num_decoder_layers|layers)\s*[=:]\s*(\d+)\b"
)
_LIST_OF = re.compile(r"(?:ModuleList|Sequential)\(\s*\[[^\]\n]*\bfor\b[^\]\n]*\brange\((\d+)\)")  # [... for _ in range(12)]
# libraries whose usual models have 12 or more numbered blocks (BERT/GPT-2/ViT-B: 12)
_DEEP_LIBRARIES = ("transformers", "timm", "open_clip", "clip", "peft")
_LIBRARY_DEPTH = 12


class _NameEvidence:
    """What one file says about the names its models have."""

    def __init__(self, facts):
        text = facts.source.text if facts.source is not None else ""
        self.text = text
        depths = [int(m.group(1)) for m in _DEPTH.finditer(text)] + [int(n) for n in _LIST_OF.findall(text)]
        self.depth = max(depths) if depths else 0
        self.depth_from = "a depth of %d in this file" % self.depth if depths else ""
        roots = {q.split(".", 1)[0] for q in _imported(facts)}
        self.library = next((lib for lib in _DEEP_LIBRARIES if lib in roots), None)
        self.prefixed = self.library in ("transformers", "peft")  # names such as `bert.encoder.layer.1.`
        if self.library and self.depth < _LIBRARY_DEPTH:
            self.depth, self.depth_from = _LIBRARY_DEPTH, f"`{self.library}` models have {_LIBRARY_DEPTH}+ blocks"
        self._why: dict = {}

    def collision(self, value: str):
        """A longer name that `value` also matches, or None when none is known to exist."""
        digits = re.search(r"\d+$", value).group(0)
        stem = value[: -len(digits)]
        if stem == "" or stem.endswith((".", "_")):  # an index: `blocks.1`, `layer_1`, `1`
            first = int(digits) * 10  # `1` -> `10`: the smallest longer index
            if first and self.depth > first:
                self._why[value] = self.depth_from
                return f"{value}0"
            return None
        m = re.search(r"\b" + re.escape(value) + r"\d+", self.text)  # an attribute: `layer1` vs `layer10`
        if m:
            self._why[value] = f"`{m.group(0)}` is named in this file"
            return m.group(0)
        return None

    def why(self, value: str) -> str:
        return self._why.get(value, "")


def _imported(facts):
    for bindings in facts.module_scope.bindings.values():
        for b in bindings:
            if b.kind is not None and b.kind.tag == "ref" and b.kind.detail:
                yield b.kind.detail

