"""A plain loop. `mistake`: `model.backbone.requires_grad = False` (a plain attribute, freezes nothing).
`correct`: `requires_grad_(False)` and an optimizer over what trains. FREEZELINT_OUT: save the weights there."""
import os
import sys

import torch
from torch import nn

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


def main():
    model = Net()
    model.backbone.requires_grad = False  # variant: mistake
    model.backbone.requires_grad_(False)  # variant: correct
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(6):
        x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = os.environ.get("FREEZELINT_OUT")
    if out:
        torch.save(model.state_dict(), out)
    print("script finished", sys.argv[1:])


if __name__ == "__main__":
    main()
