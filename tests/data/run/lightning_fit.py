"""Lightning `Trainer.fit()` with a frozen backbone holding BatchNorm. `mistake`: the trainer puts the
whole module in train mode, so the frozen BatchNorm's statistics drift. `correct`: the backbone goes
back to eval() at each epoch start."""
import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)


class Lit(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 2)
        self.backbone.requires_grad_(False)

    def on_train_epoch_start(self):  # variant: correct
        self.backbone.eval()  # variant: correct

    def training_step(self, batch, _idx):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.backbone(x)), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.head.parameters(), lr=0.1)


data = DataLoader(TensorDataset(torch.randn(32, 8), torch.randint(0, 2, (32,))), batch_size=8)
trainer = pl.Trainer(
    max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
    enable_model_summary=False,
)
trainer.fit(Lit(), data)
print("script finished")
