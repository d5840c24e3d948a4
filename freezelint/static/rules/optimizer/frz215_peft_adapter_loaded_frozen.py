from __future__ import annotations

import ast
from typing import Optional, Set

from freezelint.findings import Applicability, Severity
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import bool_literal, keyword
from freezelint.static.rules.flow_rule import FlowRule

_TRAINABLE_SINCE = (0, 3)  # peft 0.3.0: `from_pretrained(..., is_trainable=False)` by default


class PeftAdapterLoadedFrozen(FlowRule):
    """
    ## What it does
    Flags `PeftModel.from_pretrained(model, path)` without
    `is_trainable=True` when the same function then trains the result: an
    optimizer built over its parameters, or a `Trainer` (`SFTTrainer`,
    `Seq2SeqTrainer`...) given it.

    ## Why is this bad?
    Since peft 0.3.0, `from_pretrained` loads an adapter for inference: its
    weights are frozen, and so is the base model. Nothing in the model
    requires grad, so `loss.backward()` raises "element 0 of tensors does
    not require grad" - or, where the inputs require grad
    (`enable_input_require_grads()`, which `prepare_model_for_kbit_training`
    calls), the run goes on and changes nothing: resuming or continuing
    the fine-tuning of an adapter silently trains nothing. Projects that
    allow only peft older than 0.3 (where adapters loaded trainable) are
    not flagged.

    At run time: FRZ506 (a part named by `trainable=` has requires_grad=False).

    ## Example
    ```python
    import torch
    from peft import PeftModel

    def resume(base_model, adapter_dir):
        model = PeftModel.from_pretrained(base_model, adapter_dir)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
        return model, optimizer
    ```

    ## Use instead
    ```python
    import torch
    from peft import PeftModel

    def resume(base_model, adapter_dir):
        model = PeftModel.from_pretrained(base_model, adapter_dir, is_trainable=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
        return model, optimizer
    ```

    ## Fix safety
    The fix adds `is_trainable=True` to the call and is unsafe: it changes what trains (the adapter's
    weights, and any `modules_to_save` copies, now get gradients and are updated), which is the intent
    the training below shows but a change of behaviour all the same. An explicit
    `is_trainable=False` is left for the author to change.
    """

    code = "FRZ215"
    name = "peft-adapter-loaded-frozen"
    summary = "`PeftModel.from_pretrained(...)` without `is_trainable=True`, then trained: the adapter loads frozen"
    severity = Severity.ERROR
    fixable = "unsafe"
    triggers = ("from_pretrained",)

    def check(self, tl: flow.Timeline) -> None:
        for p in tl.of(flow.PEFT):
            call = p.node
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "from_pretrained"):
                continue
            if not self._loads_frozen(call) or self._old_peft():
                continue
            paths = {n for n in (p.target,) + p.names if n}
            trained = self._trained_by(tl, p, paths)
            if trained is None or self._made_trainable(tl, p, paths):
                continue
            self._report(p, call, trained)

    @staticmethod
    def _loads_frozen(call: ast.Call) -> bool:
        if any(k.arg is None for k in call.keywords):
            return False  # `**kwargs`: it may say is_trainable
        flag = keyword(call, "is_trainable")
        if flag is None:
            return len(call.args) < 4  # positional is_trainable (model, model_id, adapter_name, is_trainable)
        return bool_literal(flag) is False

    def _old_peft(self) -> bool:
        _, newest = self.facts.project.peft_range
        return newest is not None and newest < _TRAINABLE_SINCE

    def _trained_by(self, tl: flow.Timeline, p: flow.Event, paths: Set[str]) -> Optional[ast.AST]:
        """What trains the loaded model below the load: an optimizer over its parameters, or a Trainer given it."""
        for ev in tl.after(p, flow.OPT, flow.PASS):
            if ev.kind == flow.OPT:
                if any(path is not None and how in (flow.ALL, flow.FILTER) and any(flow.overlap(path, n) for n in paths)
                       for path, how in ev.over):
                    return ev.node
            elif _is_trainer_call(ev.node) and any(n in paths for n in ev.names):
                return ev.node
        return None

    def _made_trainable(self, tl: flow.Timeline, p: flow.Event, paths: Set[str]) -> bool:
        """The script sets adapter weights trainable itself (an unfreeze below the load, `set_adapter`)."""
        if any(ev.target is None or any(flow.overlap(ev.target, n) for n in paths) for ev in tl.after(p, flow.UNFREEZE)):
            return True
        line = getattr(p.node, "lineno", 0)
        return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("set_adapter", "load_adapter")
                   and n.lineno > line for n in ast.walk(tl.node))

    def _report(self, p: flow.Event, call: ast.Call, trained: ast.AST) -> None:
        load = self.code_of(call)
        how = f"`{self.code_of(trained)}` (line {getattr(trained, 'lineno', 0)})"
        self.report(
            call,
            f"`{load}` loads the adapter for inference (peft 0.3 and later): its weights are frozen, and so is the "
            f"base model, so {how} trains nothing (`backward()` raises 'element 0 of tensors does not require grad', "
            f"or runs and changes nothing when the inputs require grad); pass `is_trainable=True` to "
            f"`{self.code_of(call.func)}`",
            statement=p.stmt,
            replace=_with_is_trainable(self.ctx.code(call), call),
            applicability=Applicability.UNSAFE,
            fix_message="Pass `is_trainable=True`",
        )


def _is_trainer_call(node: ast.AST) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name.endswith("Trainer")


def _with_is_trainable(text: str, call: ast.Call):
    """`f(a, b)` -> `f(a, b, is_trainable=True)` (an explicit `is_trainable=False` is replaced)."""
    if keyword(call, "is_trainable") is not None:
        return None  # `is_trainable=False` written out: the author chose it; the message says what it does
    body = text.rstrip()
    if not body.endswith(")"):
        return None
    inner = body[:-1].rstrip()
    if "\n" in body and inner.endswith(","):  # one argument per line: one more, in the same layout
        last_line = inner.rsplit("\n", 1)[1]
        indent = last_line[: len(last_line) - len(last_line.lstrip())]
        closing = body.rsplit("\n", 1)[1]
        return call, f"{inner}\n{indent}is_trainable=True,\n{closing[: len(closing) - len(closing.lstrip())]})"
    sep = " " if inner.endswith(",") else ", "
    return call, f"{inner}{sep}is_trainable=True)"
