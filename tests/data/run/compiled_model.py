"""A torch.compile'd model whose head weight is replaced after the optimizer was built. `mistake`: the
optimizer still holds the old tensor, the new one never trains. `correct`: the optimizer is built
after the replacement. FREEZELINT_COMPILE_BACKEND picks the backend (default: eager, no C++ compiler)."""
import os

import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
model[0].requires_grad_(False)
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)  # variant: mistake
model[2].weight = nn.Parameter(torch.randn(2, 8) * 0.1)
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)  # variant: correct
compiled = torch.compile(model, backend=os.environ.get("FREEZELINT_COMPILE_BACKEND", "eager"))
for _ in range(4):
    x, y = torch.randn(8, 8), torch.randint(0, 2, (8,))
    loss = nn.functional.cross_entropy(compiled(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
print("script finished")
