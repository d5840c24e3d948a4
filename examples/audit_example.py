"""A tiny fine-tuning setup with a classic freezing mistake, for `freezelint audit`.

    freezelint audit examples/audit_example.py:build
    freezelint audit examples.audit_example:build --output-format json

The mistake: `model.backbone.requires_grad = False` sets a plain attribute on the
module and freezes nothing, so the "frozen" backbone trains. The audit reports
FRZ504 and exits 1. `build_fixed` is the corrected version (exit 0).
"""

import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _setup(fixed: bool):
    torch.manual_seed(0)
    model = Classifier()
    if fixed:
        model.backbone.requires_grad_(False)
    else:
        model.backbone.requires_grad = False  # the mistake: a plain attribute
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.01
    )
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))

    def step() -> None:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return model, optimizer, step, {"frozen": ["backbone"]}


def build():
    return _setup(fixed=False)


def build_fixed():
    return _setup(fixed=True)


if __name__ == "__main__":
    from freezelint.runtime import audit_step

    model, optimizer, step, options = build()
    report = audit_step(model, optimizer, step, **options)
    print(report)
