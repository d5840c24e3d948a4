"""An accelerate loop that freezes the backbone after two steps. `mistake`: AdamW (weight decay) holds
every parameter and `zero_grad(set_to_none=False)` leaves zero gradients on the frozen ones, so decay
keeps moving them. `correct`: `zero_grad()` (set_to_none=True)."""

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(torch.relu(self.backbone(x)))


accelerator = Accelerator(cpu=True)
model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
data = TensorDataset(torch.randn(64, 8), torch.randint(0, 2, (64,)))
loader = DataLoader(data, batch_size=8)
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
for step, (x, y) in enumerate(loader):
    if step == 2:
        accelerator.unwrap_model(model).backbone.requires_grad_(False)
    loss = nn.functional.cross_entropy(model(x), y)
    accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)  # variant: mistake
    optimizer.zero_grad()  # variant: correct
print("script finished")
