"""Lightning callback: audit the first training step (or every N) of `Trainer.fit`.

    from freezelint.integrations.lightning import FreezeAuditCallback

    trainer = lightning.Trainer(callbacks=[FreezeAuditCallback(frozen=["backbone"])])
    trainer.fit(model)   # raises FreezeAuditError at the end of step 0 on errors

Selectors name parameters as the LightningModule does (`self.backbone` ->
`"backbone"`); the optimizers are the trainer's own. Works with `lightning.pytorch`
or, without it, `pytorch_lightning`.
"""

from __future__ import annotations

from typing import Any, List, Optional

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef]

from freezelint.integrations._driver import AuditDriver
from freezelint.runtime.report import AuditReport
from freezelint.runtime.selectors import SelectorArg


class FreezeAuditCallback(Callback):
    """Audit training steps of `Trainer.fit` with the trainer's optimizers.

    `frozen`, `trainable`, `ignore`: as in `freezelint.runtime.FreezeAudit`.
    `every_n_steps`: 0 (default) audits the first step only; N audits every N-th
    optimizer step. `fail_on`: "error" (default), "warning", or None.
    `on_failure`: "raise" (`FreezeAuditError` stops `fit`) or "log" (logger
    `freezelint`). Every report is kept in `.reports`.
    """

    def __init__(
        self,
        frozen: SelectorArg = None,
        trainable: SelectorArg = None,
        ignore: SelectorArg = None,
        *,
        every_n_steps: int = 0,
        fail_on: Optional[str] = "error",
        on_failure: str = "raise",
    ):
        super().__init__()
        self.driver = AuditDriver(
            frozen=frozen, trainable=trainable, ignore=ignore,
            every_n_steps=every_n_steps, fail_on=fail_on, on_failure=on_failure,
        )

    @property
    def reports(self) -> List[AuditReport]:
        return self.driver.reports

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.driver.wants(trainer.global_step):
            accumulate = int(getattr(trainer, "accumulate_grad_batches", 1) or 1)
            self.driver.begin(pl_module, list(trainer.optimizers), trainer.global_step, max_batches=accumulate)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.driver.batch_end()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.driver.end()  # an audit still open: fit stopped before any optimizer step

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.driver.abort(exception)


__all__ = ["FreezeAuditCallback"]
