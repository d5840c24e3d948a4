"""Frozen backbone, unfrozen at step 3 (gradual unfreezing). `mistake`: the optimizer was built from the
trainable parameters and is not told (the backbone gets gradients but never moves). `correct`:
`add_param_group` with the unfrozen parameters."""

import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential()
model.add_module("backbone", nn.Sequential(nn.Linear(8, 8), nn.Tanh()))
model.add_module("head", nn.Linear(8, 1))
model.backbone.requires_grad_(False)
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
for step in range(6):
    if step == 3:
        model.backbone.requires_grad_(True)
        opt.add_param_group({"params": list(model.backbone.parameters())})  # variant: correct
    x = torch.randn(8, 8)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("script finished")
