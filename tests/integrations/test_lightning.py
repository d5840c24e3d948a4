"""FreezeAuditCallback in a real Lightning `Trainer.fit` (CPU, tiny model)."""

import os

# No downloads, no telemetry: every model here is built from a config.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import logging

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from freezelint.integrations.lightning import FreezeAuditCallback  # noqa: E402
from freezelint.runtime import FreezeAuditError  # noqa: E402


class Classifier(L.LightningModule):
    def __init__(self, mistake=None):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 3)
        if mistake == "attribute":
            self.backbone.requires_grad = False  # FRZ001: freezes nothing
        else:
            self.backbone.requires_grad_(False)
        self.mistake = mistake

    def on_train_epoch_start(self):
        if self.mistake != "bn_drift":
            self.backbone.eval()  # fixed BatchNorm statistics for the frozen part

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.backbone(x)), y)

    def configure_optimizers(self):
        params = self.parameters() if self.mistake == "all_params" else [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=1e-2)


def loader(n=16):
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)), batch_size=4)


def fit(module, callback, max_steps=2, **kw):
    trainer = L.Trainer(
        max_steps=max_steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[callback], **kw,
    )
    trainer.fit(module, loader())
    return trainer


def test_correct_setup_passes_with_the_trainers_optimizer():
    cb = FreezeAuditCallback(frozen=["backbone"], trainable=["head"])
    fit(Classifier(), cb)
    assert len(cb.reports) == 1 and cb.reports[0].findings == []
    assert cb.reports[0].optimizer_row.names == "AdamW"


def test_mistake_raises_out_of_fit():
    cb = FreezeAuditCallback(frozen=["backbone"])
    with pytest.raises(FreezeAuditError, match="backbone: FRZ504 declared frozen but requires_grad=True"):
        fit(Classifier(mistake="attribute"), cb)


def test_bn_drift_of_the_frozen_backbone_is_caught():
    module = Classifier(mistake="bn_drift")
    cb = FreezeAuditCallback(frozen=[module.backbone])  # BaseFinetuning style: the module object
    with pytest.raises(FreezeAuditError, match="FRZ503 BatchNorm statistics"):
        fit(module, cb)


def test_log_mode_keeps_training_and_logs(caplog):
    cb = FreezeAuditCallback(frozen=["backbone"], on_failure="log")
    with caplog.at_level(logging.WARNING, logger="freezelint"):
        trainer = fit(Classifier(mistake="attribute"), cb)
    assert trainer.global_step == 2
    assert cb.reports[0].codes == ["FRZ504"]
    assert any("FRZ504" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_warning_only_passes_unless_fail_on_warning():
    fit(Classifier(mistake="all_params"), FreezeAuditCallback())  # FRZ508 is a warning
    with pytest.raises(FreezeAuditError, match="FRZ508"):
        fit(Classifier(mistake="all_params"), FreezeAuditCallback(fail_on="warning"))


def test_every_n_steps_and_gradient_accumulation():
    cb = FreezeAuditCallback(frozen=["backbone"], every_n_steps=2)
    fit(Classifier(), cb, max_steps=4)
    assert len(cb.reports) == 2 and all(r.findings == [] for r in cb.reports)
    cb = FreezeAuditCallback(frozen=["backbone"])
    fit(Classifier(), cb, max_steps=2, accumulate_grad_batches=2)
    # the audit spans the whole accumulation window: no "optimizer.step() did not run"
    assert len(cb.reports) == 1 and cb.reports[0].findings == []
