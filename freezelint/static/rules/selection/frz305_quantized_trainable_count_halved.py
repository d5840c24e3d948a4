from __future__ import annotations

import ast
from typing import Optional, Set

from freezelint.findings import Severity
from freezelint.static.rules.base import Rule


class QuantizedTrainableCountHalved(Rule):
    """
    ## What it does
    Flags a count of trainable parameters (a sum of `p.numel()` over the
    parameters whose `requires_grad` is set) that is divided by 2 when the
    model is loaded in 4 bits (`if args.bits == 4: trainable_params /= 2`,
    `if load_in_4bit: ...`).

    ## Why is this bad?
    4-bit quantisation packs two weights into each byte of a `Params4bit`
    tensor, so `numel()` undercounts the *quantised* weights. Those are the
    frozen base weights: a 4-bit weight cannot be trained. The parameters
    that train (LoRA adapters, a new head, unfrozen norms) are ordinary
    tensors whose `numel()` is already right, so halving their sum reports
    half of what trains, and the printed percentage is wrong too (the total
    still counts each packed byte as one weight). A check that compares the
    count with what a LoRA config should give fails, or passes for the
    wrong reason.

    At run time: `freezelint audit`'s summary (`AuditReport.summary()`)
    counts each module's trainable parameters from the real tensors.

    ## Example
    ```python
    def print_trainable_parameters(args, model):
        trainable_params = 0
        all_param = 0
        for _, param in model.named_parameters():
            all_param += param.numel()
            if param.requires_grad:
                trainable_params += param.numel()
        if args.bits == 4:
            trainable_params /= 2
        print(f"trainable: {100 * trainable_params / all_param:.2f}%")
    ```

    ## Use instead
    ```python
    def print_trainable_parameters(args, model):
        trainable_params = 0
        all_param = 0
        for _, param in model.named_parameters():
            num_params = param.numel()
            if param.__class__.__name__ == "Params4bit":
                # two 4-bit weights per byte of its storage (peft's get_nb_trainable_parameters)
                num_params *= 2 * param.quant_storage.itemsize
            all_param += num_params
            if param.requires_grad:
                trainable_params += num_params
        print(f"trainable: {100 * trainable_params / all_param:.2f}%")
    ```
    or, on a peft model, `model.print_trainable_parameters()`.
    """

    code = "FRZ305"
    name = "quantized-trainable-count-halved"
    summary = "the trainable-parameter count halved for 4-bit models (`if bits == 4: trainable /= 2`): only frozen weights are packed"
    severity = Severity.WARNING
    triggers = ("requires_grad",)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, (ast.Div, ast.FloorDiv)) and isinstance(node.target, ast.Name) and _is_two(node.value):
            self._check(node, node.target.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        # `trainable = trainable / 2`
        value = node.value
        if (len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and isinstance(value, ast.BinOp)
                and isinstance(value.op, (ast.Div, ast.FloorDiv)) and _is_two(value.right)
                and isinstance(value.left, ast.Name) and value.left.id == node.targets[0].id):
            self._check(node, node.targets[0].id)

    def _check(self, node: ast.stmt, name: str) -> None:
        condition = self._enclosing_4bit_test(node)
        if condition is None or name not in _trainable_counts(self.ctx.scope.node):
            return
        division = self.ctx.code(node).strip()
        self.report(
            node,
            f"`{division}` under `{self.ctx.code(condition).strip()}` halves the count of trainable parameters, but "
            f"4-bit packing (two weights per byte of a `Params4bit`) applies only to the frozen base weights: what "
            f"trains (LoRA adapters, new layers) are ordinary tensors whose `numel()` is already right, so `{name}` "
            f"reports half of what trains. Remove the division; to count the 4-bit weights right, count a `Params4bit` "
            f"parameter as `p.numel() * 2 * p.quant_storage.itemsize` in the total (as peft's "
            f"`get_nb_trainable_parameters` does), or call `model.print_trainable_parameters()` on a peft model",
        )

    def _enclosing_4bit_test(self, node: ast.stmt) -> Optional[ast.expr]:
        for stmt in reversed(self.ctx.statement_stack[:-1]):
            if isinstance(stmt, ast.If) and _says_4bit(stmt.test) and _inside(node, stmt.body):
                return stmt.test
            if isinstance(stmt, (ast.For, ast.While)):
                return None  # a division inside a loop is not the one final adjustment
        return None


def _is_two(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 2


def _inside(node: ast.stmt, body) -> bool:
    return any(node is sub for stmt in body for sub in ast.walk(stmt))


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _says_4bit(test: ast.expr) -> bool:
    """`bits == 4`, `args.bits == 4`, `load_in_4bit`, `cfg.use_4bit`: a test that the model is in 4 bits."""
    for sub in ast.walk(test):
        if isinstance(sub, ast.Compare) and len(sub.ops) == 1 and isinstance(sub.ops[0], ast.Eq):
            sides = (sub.left, sub.comparators[0])
            if any(isinstance(s, ast.Constant) and s.value == 4 for s in sides) and any(
                    "bit" in _last_name(s).lower() for s in sides):
                return True
        elif isinstance(sub, (ast.Name, ast.Attribute)) and isinstance(getattr(sub, "ctx", None), ast.Load):
            word = _last_name(sub).lower()
            if "4bit" in word or "4_bit" in word:
                return True
    return False


def _requires_grad_test(test: ast.expr) -> bool:
    """`p.requires_grad` or `p.requires_grad is True` / `== True` (not its negation)."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Is, ast.Eq)):
        right = test.comparators[0]
        return isinstance(right, ast.Constant) and right.value is True and _requires_grad_test(test.left)
    return isinstance(test, ast.Attribute) and test.attr == "requires_grad"


def _counts_numel(value: ast.expr, numel_names: Set[str]) -> bool:
    for sub in ast.walk(value):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "numel":
            return True
        if isinstance(sub, ast.Name) and sub.id in numel_names:
            return True
    return False


def _trainable_counts(scope: ast.AST) -> Set[str]:
    """Names that sum `numel()` over the parameters with `requires_grad` set, in this function or module:
    `if p.requires_grad: n += p.numel()` and `n = sum(p.numel() for p in ps if p.requires_grad)`."""
    numel_names = {t.id for node in ast.walk(scope) if isinstance(node, ast.Assign) and _counts_numel(node.value, set())
                   for t in node.targets if isinstance(t, ast.Name)}
    out: Set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.If) and _requires_grad_test(node.test):
            for stmt in node.body:
                if (isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) and isinstance(stmt.target, ast.Name)
                        and _counts_numel(stmt.value, numel_names)):
                    out.add(stmt.target.id)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            call = node.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "sum" and call.args
                    and isinstance(call.args[0], (ast.GeneratorExp, ast.ListComp)) and _counts_numel(call.args[0].elt, set())
                    and any(_requires_grad_test(cond) for gen in call.args[0].generators for cond in gen.ifs)):
                out.add(node.targets[0].id)
    return out
