"""Embedding rows a script adds before wrapping the model in PEFT: `tokenizer.add_tokens(...)` (or
`add_special_tokens` with more than a pad token) then `model.resize_token_embeddings(...)`. The new
rows start from an initial value and only training gives them one of their own."""

from __future__ import annotations

import ast
import re
from typing import Optional

from freezelint.static.parse.astutil import arg, string_value

# A pad token is masked out of the loss and attention: its rows never need training.
_UNTRAINED_SPECIAL = frozenset({"pad_token"})
# Where a PEFT config keeps (or adapts) the embedding rows: names of input embeddings and output layers
# across transformers' model families.
EMBEDDING_NAMES = frozenset(
    {"embed_tokens", "lm_head", "wte", "word_embeddings", "embed_in", "embed_out", "shared", "tok_embeddings",
     "output", "embeddings", "token_embedding"}
)


_EMBEDDING_WORDS = re.compile(r"embed|lm_head|wte|word_emb|tok_emb|get_(?:input|output)_embeddings")


def embeddings_unfrozen_after(scope: ast.AST, after: ast.AST, code_of) -> bool:
    """`model.get_input_embeddings().requires_grad_(True)`, `...embed_tokens.weight.requires_grad = True`
    below `after` in `scope`: the script trains the embeddings itself."""
    line = getattr(after, "end_lineno", None) or getattr(after, "lineno", 0)
    for node in ast.walk(scope):
        if getattr(node, "lineno", 0) <= line:
            continue
        receiver = None
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_"
                and not (node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is False)):
            receiver = node.func.value
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is True:
            receiver = next((t.value for t in node.targets if isinstance(t, ast.Attribute) and t.attr == "requires_grad"), None)
        if receiver is not None and _EMBEDDING_WORDS.search(code_of(receiver)):
            return True
    return False


def resize_before(scope: ast.AST, before: ast.AST, base_code: str, code_of, facts) -> Optional[ast.AST]:
    """`<base>.resize_token_embeddings(...)` in `scope` above `before`, once new tokens (not only a pad
    token) were added to a tokenizer there, directly or through a helper of this file
    (`smart_tokenizer_and_embedding_resize(dict(...), tokenizer, model)`): the resize call, or the
    helper's call; None when there is no such resize. `facts`: the file's semantic model."""
    resizes = []  # the resize calls (or helper calls that resize) above `before`
    adds = []  # lines where tokens other than a pad token are added
    line = getattr(before, "lineno", 0)
    for node in ast.walk(scope):
        if not isinstance(node, ast.Call) or node.lineno >= line:
            continue
        if isinstance(node.func, ast.Name):
            defs = facts.functions.get(node.func.id, [])
            if len(defs) == 1:
                resized, added = _helper_effect(defs[0], node, base_code, code_of, scope, facts)
                if resized:
                    resizes.append(node)
                if added:
                    adds.append(node.lineno)
            continue
        if not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        if method == "resize_token_embeddings" and code_of(node.func.value).strip() == base_code:
            resizes.append(node)
        elif method == "add_tokens" or (method == "add_special_tokens"
                                        and _adds_more_than_padding(_literal(arg(node, 0, "special_tokens_dict"), scope, facts))):
            adds.append(node.lineno)
    # the resize makes room for tokens added before it (or in the same helper call); special tokens set
    # after it (`eos_token` pointed at an existing token) add no row it made
    return next((r for r in sorted(resizes, key=lambda r: r.lineno) if any(a <= r.lineno for a in adds)), None)


def _helper_effect(func: ast.AST, call: ast.Call, base_code: str, code_of, caller: ast.AST, facts):
    """(resizes the embeddings of the model passed as `base_code`, adds more than a pad token) for a call
    of a helper of this file, its parameters bound to the call's arguments."""
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False, False
    params = [a.arg for a in func.args.posonlyargs + func.args.args]
    bound = {params[i]: a for i, a in enumerate(call.args) if i < len(params) and not isinstance(a, ast.Starred)}
    bound.update({k.arg: k.value for k in call.keywords if k.arg})
    resized = adds = False
    for node in ast.walk(func):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        receiver = node.func.value
        if method == "resize_token_embeddings" and isinstance(receiver, ast.Name):
            passed = bound.get(receiver.id)
            resized = resized or (passed is not None and code_of(passed).strip() == base_code)
        elif method == "add_tokens":
            adds = True
        elif method == "add_special_tokens":
            tokens = arg(node, 0, "special_tokens_dict")
            if isinstance(tokens, ast.Name) and tokens.id in params:
                tokens = _literal(bound.get(tokens.id), caller, facts)  # None: the default, or not passed: unknown
            else:
                tokens = _literal(tokens, func, facts)
            adds = adds or _adds_more_than_padding(tokens)
    return resized, adds


def _literal(expr: Optional[ast.expr], scope_node: ast.AST, facts) -> Optional[ast.expr]:
    """What a name holds where it is used, when one plain binding reaches it there
    (`tokens = {"additional_special_tokens": [...]}`); other expressions as they are."""
    if not isinstance(expr, ast.Name):
        return expr
    bindings = facts.bindings_at(expr, facts.scope_of.get(id(scope_node), facts.module_scope)) or []
    if len(bindings) != 1 or bindings[0].iterate or bindings[0].path:
        return None
    return bindings[0].expr


def _adds_more_than_padding(tokens: Optional[ast.expr]) -> bool:
    if isinstance(tokens, ast.Dict):
        keys = [string_value(k) if k is not None else None for k in tokens.keys]
        return not all(k in _UNTRAINED_SPECIAL for k in keys)
    if isinstance(tokens, ast.Call) and isinstance(tokens.func, ast.Name) and tokens.func.id == "dict" and not tokens.args:
        return not all(k.arg in _UNTRAINED_SPECIAL for k in tokens.keywords)
    return False  # a dict built elsewhere: what it adds is unknown, so no claim


def config_adapts_embeddings(config: ast.Call) -> bool:
    """The config trains the embedding rows some other way: `trainable_token_indices`, or LoRA on the
    embeddings themselves (`target_modules=[..., "embed_tokens"]`, or "all-linear" does not: embeddings
    are not linear layers)."""
    for kw in config.keywords:
        if kw.arg == "trainable_token_indices" and not (isinstance(kw.value, ast.Constant) and kw.value.value is None):
            return True
        if kw.arg == "target_modules":
            pattern = string_value(kw.value)
            if pattern is not None:  # "all-linear" (linear layers only) or a regex
                return pattern != "all-linear" and _EMBEDDING_WORDS.search(pattern) is not None
            if not isinstance(kw.value, (ast.List, ast.Tuple, ast.Set)):
                return True  # a name built elsewhere: it may name the embeddings
            names = [string_value(e) for e in kw.value.elts]
            if any(n is None or n.split(".")[-1] in EMBEDDING_NAMES for n in names):
                return True
    return False
