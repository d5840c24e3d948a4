"""HF Trainer callback: audit the first training step (or every N) of `Trainer.train`.

    from freezelint.integrations.transformers import FreezeAuditCallback

    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      callbacks=[FreezeAuditCallback(frozen=["bert.embeddings"])])
    trainer.train()      # raises FreezeAuditError at the end of step 0 on errors

The audit covers one optimizer step, from `on_step_begin` to `on_step_end`
(all the micro-batches of a gradient-accumulation window), with the trainer's
own optimizer (accelerate's `AcceleratedOptimizer`, unwrapped). Selectors name
parameters as the model does; for a PEFT model also without `base_model.model.`.
"""

from __future__ import annotations

from typing import Any, List, Optional

from transformers import TrainerCallback

from freezelint.integrations._driver import AuditDriver
from freezelint.runtime.report import AuditReport
from freezelint.runtime.selectors import SelectorArg


class FreezeAuditCallback(TrainerCallback):
    """Audit optimizer steps of `Trainer.train`.

    `frozen`, `trainable`, `ignore`: as in `freezelint.runtime.FreezeAudit`.
    `every_n_steps`: 0 (default) audits the first step only; N audits every N-th.
    `fail_on`: "error" (default), "warning", or None. `on_failure`: "raise"
    (`FreezeAuditError` stops `train`) or "log" (logger `freezelint`). Every
    report is kept in `.reports`.
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
        self.driver = AuditDriver(
            frozen=frozen, trainable=trainable, ignore=ignore,
            every_n_steps=every_n_steps, fail_on=fail_on, on_failure=on_failure,
        )

    @property
    def reports(self) -> List[AuditReport]:
        return self.driver.reports

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kwargs: Any):
        if model is not None and optimizer is not None and self.driver.wants(state.global_step):
            self.driver.begin(model, optimizer, state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any):
        self.driver.end()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any):
        self.driver.end()


__all__ = ["FreezeAuditCallback"]
