"""User documentation of the runtime codes (`freezelint explain FRZ5xx`), one Markdown text per code.

Data only: `codes.py` pairs each text with the code's metadata.
"""

DOCS = {
    "FRZ501": """
## What it does
Runtime check. Reports a frozen parameter (named by `frozen=`, or with
`requires_grad=False`) whose `.grad` is not `None` when `optimizer.step()` runs or
after the audited step.

## Why is this bad?
A frozen parameter should never hold a gradient. A zero-filled gradient (left by
`zero_grad(set_to_none=False)` on an optimizer built before freezing) still lets
momentum and weight decay move the weight; a stale gradient from a backward that
ran before freezing is applied as is; and the gradient wastes memory.

## Example
```python
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn(model(x), y).backward()        # grads for the whole model
model.backbone.requires_grad_(False)   # frozen, but its .grad stays
optimizer.step()                       # moves the "frozen" backbone
```

## Use instead
```python
model.backbone.requires_grad_(False)
optimizer = torch.optim.SGD(
    [p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9
)
optimizer.zero_grad()  # set_to_none=True, the default
```
""",
    "FRZ502": """
## What it does
Runtime check. Fingerprints every frozen parameter before and after one real
training step and reports any whose bytes differ (bits, not values: `0.0` to
`-0.0` is a change), or that the step replaced with a new tensor object. When the
optimizer moved it through a zero-filled or stale gradient, this one finding
names that cause (no separate FRZ501 / FRZ508 for the same parameters). With an
explicit `frozen=`, parameters it does not name may change without a gradient (an
EMA / mean teacher); `ignore=[...]` excludes a part from every check.

## Why is this bad?
`requires_grad=False` only stops autograd. An optimizer that still holds the
parameter moves it through momentum buffers, weight decay (AdamW decays every
parameter it holds whose grad is not `None`), stale or zero-filled gradients, and
code in the step (an EMA copied the wrong way, a manual `p.data` update) can
write it directly. The "frozen" model silently drifts.

## Example
```python
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
model.backbone.requires_grad_(False)
...
optimizer.zero_grad(set_to_none=False)  # zero-filled grads: AdamW still decays
```

## Use instead
```python
model.backbone.requires_grad_(False)
optimizer = torch.optim.AdamW(
    [p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.1
)
optimizer.zero_grad()  # set_to_none=True
```
""",
    "FRZ503": """
## What it does
Runtime check. Reports a buffer (BatchNorm `running_mean`, `running_var`,
`num_batches_tracked`, or any registered buffer) inside a module named by
`frozen=` that changed during the step. With `frozen=None` it applies to modules
whose own parameters are all frozen: an error for BatchNorm, a warning for other
buffers. A buffer the step replaces with a new tensor (dynamic RoPE re-registering
`inv_freq`) is compared by value. Changes that span many modules are one finding
with the count.

## Why is this bad?
`requires_grad_(False)` does not stop BatchNorm from updating its running
statistics in train mode, and `model.train()` puts the frozen backbone back in
train mode at every epoch. The frozen backbone's outputs drift away from what it
was trained with.

## Example
```python
model.backbone.requires_grad_(False)
model.train()  # backbone BatchNorm layers track statistics again
```

## Use instead
```python
model.backbone.requires_grad_(False)
model.train()
model.backbone.eval()  # after every model.train(), or override train()
```
""",
    "FRZ504": """
## What it does
Runtime check. Reports a parameter named by `frozen=` that still has
`requires_grad=True` when the step runs. The message names the cause when it can
see it: `module.requires_grad = False` (a plain attribute in the module's
`__dict__`), an overwritten `requires_grad_`, or a module put in eval mode as if
`eval()` froze it. With `frozen=None`, a module whose `__dict__` holds
`requires_grad = False` counts as declared frozen, and a submodule left in eval
mode while the model trains, whose weights all still train, is a warning
(normalisation layers kept in eval for fixed statistics are not reported).

## Why is this bad?
`nn.Module` has no `requires_grad` attribute: assigning one creates a plain
attribute and freezes nothing. `eval()` changes dropout and BatchNorm behaviour
and freezes nothing either. The "frozen" part trains.

## Example
```python
model.backbone.requires_grad = False   # plain attribute
model.backbone.eval()                  # not a freeze either
```

## Use instead
```python
model.backbone.requires_grad_(False)
```
""",
    "FRZ505": """
## What it does
Runtime check. Reports a parameter with `requires_grad=True` that no optimizer
param group holds, matched by identity (never by value).

## Why is this bad?
It receives gradients every step and never updates: typically a layer unfrozen
after the optimizer was built, without `add_param_group`. Training runs, the
loss moves a little, and the unfrozen layers stay as they were.

## Example
```python
optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)
...
model.backbone.layer4.requires_grad_(True)   # unfrozen, but not optimised
```

## Use instead
```python
model.backbone.layer4.requires_grad_(True)
optimizer.add_param_group({"params": model.backbone.layer4.parameters(), "lr": 1e-4})
```
""",
    "FRZ506": """
## What it does
Runtime check (warning). Reports a trainable parameter held by the optimizer
that received no gradient during the step: not used by the forward, detached,
or computed under `torch.no_grad()`. It is an error when the parameter is named
by `trainable=` but has `requires_grad=False`.

## Why is this bad?
The parameter will never train. Usually the freeze cut more than intended (a
`no_grad()` around more than the backbone, a `.detach()` on the head's input), or
the layer is dead code.

## Example
```python
with torch.no_grad():
    feats = model.backbone(x)
    logits = model.head(feats)      # head computed without autograd
```

## Use instead
```python
with torch.no_grad():
    feats = model.backbone(x)
logits = model.head(feats)
```
""",
    "FRZ507": """
## What it does
Runtime check (warning). Reports a trainable parameter that received a gradient
but whose bytes did not change during the step. The message gives the cause when
it is visible: a param group with `lr=0`, an all-zero or non-finite gradient,
`optimizer.step()` not called (GradScaler skips it when gradients hold inf/NaN),
or a gradient that arrived after `optimizer.step()` ran. It is an error for
parameters named by `trainable=`.

## Why is this bad?
A parameter meant to train that does not move is a silent no-op fine-tune.

## Example
```python
optimizer = torch.optim.SGD([
    {"params": model.backbone.parameters(), "lr": 0.0},   # "frozen" by lr
    {"params": model.head.parameters()},
], lr=0.1)
```

## Use instead
```python
model.backbone.requires_grad_(False)
optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)
```
""",
    "FRZ508": """
## What it does
Runtime check (warning). Reports frozen parameters that an optimizer param group
still holds.

## Why is this bad?
Harmless only as long as their `.grad` stays `None`. A zero-filled gradient
(`zero_grad(set_to_none=False)`) or a stale one lets weight decay and momentum
move them, the optimizer keeps state for them, and checkpoints carry it.

## Example
```python
model.backbone.requires_grad_(False)
optimizer = torch.optim.AdamW(model.parameters(), weight_decay=0.01)
```

## Use instead
```python
model.backbone.requires_grad_(False)
optimizer = torch.optim.AdamW(
    [p for p in model.parameters() if p.requires_grad], weight_decay=0.01
)
```
""",
    "FRZ509": """
## What it does
Runtime check. Reports a step in which no parameter received any gradient:
the model's forward ran under `torch.no_grad()` or `torch.inference_mode()`,
`backward()` never ran, or no parameter requires grad at all (for example the new
head was frozen along with the backbone).

## Why is this bad?
Nothing trains. With everything frozen, `loss.backward()` raises "element 0 of
tensors does not require grad"; under `no_grad()` the training loop may run
without error and learn nothing.

## Example
```python
model.fc = torch.nn.Linear(512, 10)      # new head
for p in model.parameters():
    p.requires_grad = False              # ... frozen along with the backbone
```

## Use instead
```python
for p in model.parameters():
    p.requires_grad = False
model.fc = torch.nn.Linear(512, 10)      # created after the freeze: trainable
```
""",
    "FRZ510": """
## What it does
Runtime check. Reports a `frozen=` or `trainable=` selector that names no
parameter, buffer or module of the model.

## Why is this bad?
The audit would check nothing for it and pass. Usually the selector has a typo,
or copies a wrapper prefix from the wrapped model's names. Names are the user's
own: freezelint strips DDP's `module.` and torch.compile's `_orig_mod.`, accepts
names inside PEFT without `base_model.model.` and `base_layer.`, and matches on
dot boundaries (`"layer1"` never matches `layer10`). The message suggests the
closest name ("did you mean").

## Example
```python
audit_step(model, optimizer, step, frozen=["backbone.layers"])  # it is `backbone.layer`
```

## Use instead
```python
audit_step(model, optimizer, step, frozen=["backbone.layer"])
```
""",
    "FRZ511": """
## What it does
Runtime check. For a model wrapped in `DistributedDataParallel`, compares the
parameters that require grad now with the set DDP registered when it was built.

## Why is this bad?
DDP builds its gradient buckets once, from the parameters that required grad at
construction. Freezing afterwards leaves buckets waiting for gradients that
never come ("Expected to have finished reduction in the prior iteration"), or
silently skips synchronising the trainable parameters in the same buckets;
unfreezing afterwards trains those parameters without synchronising them, so
the replicas diverge.

## Example
```python
model = DistributedDataParallel(model)
model.module.backbone.requires_grad_(False)
```

## Use instead
```python
model.backbone.requires_grad_(False)
model = DistributedDataParallel(model)
```
""",
    "FRZ512": """
## What it does
Runtime check. Reports one parameter reachable under two names (tied input and
output embeddings, a module shared by two parents) where the selectors name one
name frozen and leave the other trainable.

## Why is this bad?
`requires_grad` belongs to the tensor, not to the name: the tied weight is
either frozen under both names or trained under both. Freezing the transformer
of GPT-2 freezes `lm_head.weight` too, because it is `transformer.wte.weight`.

## Example
```python
audit_step(model, opt, step, frozen=["transformer"], trainable=["lm_head"])
```

## Use instead
```python
model.lm_head.weight = torch.nn.Parameter(model.transformer.wte.weight.detach().clone())
model.transformer.requires_grad_(False)  # untied: the head trains on its own copy
```
""",
    "FRZ513": """
## What it does
Runtime check (warning). Lists the parameters and buffers the audit could not
compare before and after the step: tensors on the `meta` device hold no data.
Sparse and quantised tensors are checked (through their indices, values,
integer representation and scales) and are not reported.

## Why is this bad?
A tensor that is not checked can change without any finding: "no findings"
would claim more than the audit proved.

## Example
```python
with torch.device("meta"):
    model = build_model()
audit_step(model, optimizer, step)   # nothing to compare
```

## Use instead
```python
model = model.to_empty(device="cpu")
model.load_state_dict(weights)
audit_step(model, optimizer, step)
```
""",
}

__all__ = ["DOCS"]
