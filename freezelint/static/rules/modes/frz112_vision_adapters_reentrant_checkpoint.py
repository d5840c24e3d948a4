from __future__ import annotations

import ast
import re
from typing import Dict, List, Optional, Set

from freezelint.findings import Severity
from freezelint.static.parse.astutil import FUNCTION_NODES, bool_literal, dotted_name, string_value
from freezelint.static.rules.base import Rule
from freezelint.static.input.torch_target import project_package_range

# the parts of a multimodal model whose blocks are fed by their own (frozen) patch embedding
_VISION = re.compile(r"vision|visual|vit\b|vit_|image_encoder|img_encoder|siglip", re.I)
_REENTRANT_DEFAULT_UNTIL = (5, 0)  # transformers 5.0 made use_reentrant=False the default (huggingface/transformers#43203)


class VisionAdaptersReentrantCheckpoint(Rule):
    """
    ## What it does
    Flags `model.enable_input_require_grads()` in a script that trains
    with gradient checkpointing (`gradient_checkpointing_enable()`, or the
    `TrainingArguments` flag it tests) and puts LoRA adapters in the vision
    encoder of a multimodal model (`target_modules` built from the vision
    encoder's names), when nothing hooks the vision encoder's own inputs
    and nothing asks for `use_reentrant=False`. Up to transformers 4.x,
    `gradient_checkpointing_enable()` checkpoints with
    `use_reentrant=True`; the project's requirements say which version it
    runs (the finding names the one it assumes).

    ## Why is this bad?
    Reentrant checkpointing records a block's backward only when one of
    the block's inputs requires grad. `enable_input_require_grads()` makes
    the output of the language model's input embeddings require grad, which
    is why it is called. The vision encoder's blocks are fed by its patch
    embedding instead, frozen under LoRA: their checkpoints record nothing,
    and the adapters inside get no gradient while the language model's
    train (zjysteven/lmms-finetune with `--use_vision_lora`). No error is
    raised: the vision adapters stay at their initialisation.

    At run time: FRZ506 (a trainable parameter held by the optimizer got
    no gradient).

    ## Example
    ```python
    from peft import LoraConfig, get_peft_model

    def train(model, training_args, vision_keys, llm_keys):
        if training_args.gradient_checkpointing:
            model.enable_input_require_grads()
        lora_modules = list(vision_keys) + list(llm_keys)
        config = LoraConfig(target_modules=lora_modules)
        return get_peft_model(model, config)
    ```

    ## Use instead
    ```python
    from peft import LoraConfig, get_peft_model

    def train(model, training_args, vision_keys, llm_keys):
        if training_args.gradient_checkpointing:
            training_args.gradient_checkpointing_kwargs = {"use_reentrant": False}
        lora_modules = list(vision_keys) + list(llm_keys)
        config = LoraConfig(target_modules=lora_modules)
        return get_peft_model(model, config)
    ```
    or make the vision encoder's patch embedding output require grad too
    (a forward hook on it calling `output.requires_grad_(True)`).
    """

    code = "FRZ112"
    name = "vision-adapters-reentrant-checkpoint"
    summary = "LoRA in a vision encoder under reentrant gradient checkpointing: only the language model's inputs are hooked"
    severity = Severity.WARNING
    triggers = ("enable_input_require_grads",)

    def visit_Module(self, node: ast.Module) -> None:
        if _mentions_non_reentrant(node) or _hooks_vision_inputs(node):
            return
        low, high = project_package_range(self.facts.project.root, "transformers")
        if (low is not None and low >= _REENTRANT_DEFAULT_UNTIL) or (high is not None and high >= _REENTRANT_DEFAULT_UNTIL):
            return  # 5.0 or later allowed: the default is use_reentrant=False there
        if high is None:
            version = "transformers before 5.0, which the project does not pin"
        else:
            version = f"transformers {high[0]}.{'x' if high[1] == 999 else high[1]}, from the project's requirements"
        for fn in [node] + [n for n in ast.walk(node) if isinstance(n, FUNCTION_NODES)]:
            self._check(fn, version)

    def _check(self, fn: ast.AST, version: str) -> None:
        body = _own(fn)
        hook = next((n for n in body if _is_call(n, "enable_input_require_grads")), None)
        if hook is None or not _checkpointing(body):
            return
        vision = _vision_targets(body)
        if vision is None:
            return
        recv = self.ctx.code(hook.func.value).strip()  # type: ignore[union-attr]
        self.report(
            hook,
            f"`{recv}.enable_input_require_grads()` makes the language model's input embeddings require grad, as "
            f"reentrant gradient checkpointing needs (the default up to transformers 4.x; assumed: {version}), but "
            f"`target_modules` also puts LoRA in the vision encoder (`{vision}`), whose checkpointed blocks are fed "
            f"by its frozen patch embedding: their checkpoints record nothing and the vision adapters get no gradient; "
            f"checkpoint with `gradient_checkpointing_kwargs={{\"use_reentrant\": False}}`, or make the vision "
            f"embeddings' output require grad too (a forward hook calling `output.requires_grad_(True)`)",
        )


def _own(fn: ast.AST) -> List[ast.AST]:
    """The nodes of one scope (nested functions and classes left out)."""
    out: List[ast.AST] = []
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        n = stack.pop()
        if isinstance(n, FUNCTION_NODES + (ast.ClassDef, ast.Lambda)):
            continue
        out.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return out


def _is_call(n: ast.AST, method: str) -> bool:
    return isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == method


def _checkpointing(body: List[ast.AST]) -> bool:
    """Gradient checkpointing is on here: enabled by a call, or the training arguments' flag tested or passed."""
    for n in body:
        if _is_call(n, "gradient_checkpointing_enable"):
            return True
        if isinstance(n, ast.Attribute) and n.attr == "gradient_checkpointing" and isinstance(n.ctx, ast.Load):
            return True
        if isinstance(n, ast.keyword) and n.arg in ("gradient_checkpointing", "use_gradient_checkpointing"):
            if bool_literal(n.value) is not False:
                return True
    return False


def _vision_targets(body: List[ast.AST]) -> Optional[str]:
    """The vision word `target_modules=` is built from (through names bound, extended or appended in this scope)."""
    built: Dict[str, List[ast.expr]] = {}
    for n in body:
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            built.setdefault(n.targets[0].id, []).append(n.value)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            built.setdefault(n.target.id, []).append(n.value)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("extend", "append", "add", "update"):
            if isinstance(n.func.value, ast.Name):
                built.setdefault(n.func.value.id, []).extend(n.args)
    for n in body:
        if isinstance(n, ast.keyword) and n.arg == "target_modules":
            word = _vision_word(n.value, built, set())
            if word:
                return word
    return None


def _vision_word(expr: ast.expr, built: Dict[str, List[ast.expr]], seen: Set[str]) -> Optional[str]:
    """A vision word among the names and strings of `expr`; a name is followed to what it is built from only
    when the list is made of it (`x`, `[*x]`, `a + x`, `list(x)`), not through a call's other arguments."""
    for n in ast.walk(expr):
        text = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else string_value(n)
        if text and _VISION.search(text):
            return text
    for name in _composed_of(expr):
        if name in built and name not in seen:
            seen.add(name)
            for value in built[name]:
                got = _vision_word(value, built, seen)
                if got:
                    return got
    return None


def _composed_of(expr: ast.expr) -> List[str]:
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, ast.Starred):
        return _composed_of(expr.value)
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        return [n for e in expr.elts for n in _composed_of(e)]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _composed_of(expr.left) + _composed_of(expr.right)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("list", "set", "sorted", "tuple"):
        return [n for a in expr.args for n in _composed_of(a)]
    return []


def _mentions_non_reentrant(module: ast.Module) -> bool:
    """`use_reentrant=False` / `{"use_reentrant": False}` anywhere in the file."""
    for n in ast.walk(module):
        if isinstance(n, ast.keyword) and n.arg == "use_reentrant" and bool_literal(n.value) is not True:
            return True
        if isinstance(n, ast.Dict):
            for k, v in zip(n.keys, n.values):
                if k is not None and string_value(k) == "use_reentrant" and bool_literal(v) is not True:
                    return True
    return False


def _hooks_vision_inputs(module: ast.Module) -> bool:
    """Something makes a vision part's inputs require grad (`visual_encoder.enable_input_require_grads()`,
    a forward hook registered on a vision module)."""
    for n in ast.walk(module):
        if _is_call(n, "enable_input_require_grads") or _is_call(n, "register_forward_hook"):
            if _VISION.search(dotted_name(n.func.value) or ast.dump(n.func.value)):  # type: ignore[union-attr]
                return True
    return False
