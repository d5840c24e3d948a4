"""What the Hugging Face `Trainer`'s optimizer holds, per transformers version, and which version a project runs.

Read from each release's `transformers/trainer.py` (wheels from PyPI) and checked by running the Trainer:

- Order (unchanged from 4.0 to 5.25): `Trainer.__init__` ends with `callback_handler.on_init_end`;
  `train()` builds the optimizer (`create_optimizer`, only while `self.optimizer is None`) before
  `callback_handler.on_train_begin`, then runs the epochs. 4.0.0: `create_optimizer_and_scheduler` in
  `train` at line 613, `on_train_begin` at 708; 4.21.0: 1576 and 1669 in `_inner_training_loop`;
  5.0.0: 2295 and 2438; 5.1/5.2 call `self.create_optimizer()` there (5.2.0: 1491, `on_train_begin` 1642).
  From 5.3.0 the creation moved to `_prepare_for_training`, defined below `_inner_training_loop`
  (5.24.0: `create_optimizer` at 1741, `on_train_begin` at 1653) but called before it (5.24.0: line
  1615, `model, train_dataloader = self._prepare_for_training(...)`): the line numbers cross, the
  order does not. The delayed creation (FSDP, SageMaker MP: `delay_optimizer_creation`) also runs
  before `on_train_begin` in every version. A run on 5.24.0 and on 4.25.1 shows it: `on_init_end`
  gets `optimizer=None`, `on_train_begin` the built optimizer. So `on_init_end` runs before the
  optimizer exists and every hook from `on_train_begin` on runs after it.
- What it holds (changed in 4.26.0): `create_optimizer`'s two groups keep only `p.requires_grad`
  parameters from 4.26.0 (4.26.0 trainer.py lines 1024 and 1030; 4.25.1: lines 1016 and 1020 take
  every `named_parameters()`). Before 4.26 the Trainer's optimizer holds every parameter, frozen
  ones included, so unfreezing later trains them (its AdamW skips a parameter whose grad is None
  until then); from 4.26 a parameter frozen when `train()` starts is in no group, and unfreezing
  it later (in a callback, or between two `train()` runs, which reuse the optimizer) trains
  nothing. Measured with a 2-layer GPT-2 from a config: frozen before `train()`, unfrozen in
  `on_epoch_begin`: held and moved on 4.25.1, neither on 5.24.0; frozen in `on_train_begin` and
  unfrozen later: held and moved on both.
- An optimizer given as `optimizers=(opt, sched)` is the caller's: it exists before every hook
  (`on_init_end` included) and holds what the caller gave it, on every version.

Which version: the project's requirements (`input/torch_target.project_package_range`, read once into
`ProjectIndex.transformers_range`). We answer for the newest version they allow, which is what a
fresh install of the project gets; a project that states none is taken to run a current
transformers (the requires_grad filter). When the requirements also allow versions before 4.26,
the finding says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

Version = Tuple[int, int]
REQUIRES_GRAD_FILTER_SINCE: Version = (4, 26)


@dataclass(frozen=True)
class TrainerOptimizer:
    filtered: bool  # the Trainer's optimizer is built over the parameters that require grad then
    assumed: str  # which transformers that answer is for, for messages


def _shown(v: Version) -> str:
    return f"{v[0]}.x" if v[1] >= 999 else f"{v[0]}.{v[1]}"


def trainer_optimizer(versions: Tuple[Optional[Version], Optional[Version]]) -> TrainerOptimizer:
    """What the Trainer's own optimizer holds on the newest transformers the project allows ((oldest, newest),
    None where unbounded)."""
    low, high = versions
    since = _shown(REQUIRES_GRAD_FILTER_SINCE)
    if high is not None and high < REQUIRES_GRAD_FILTER_SINCE:
        return TrainerOptimizer(False, f"transformers {_shown(high)}, from the project's requirements")
    if low is None and high is None:
        return TrainerOptimizer(True, f"transformers {since} or later, which the project does not pin")
    if low is not None and low >= REQUIRES_GRAD_FILTER_SINCE:
        upto = f" to {_shown(high)}" if high is not None and high != low else (" or later" if high is None else "")
        return TrainerOptimizer(True, f"transformers {_shown(low)}{upto}, from the project's requirements")
    newest = f"up to {_shown(high)}" if high is not None else "and later"
    return TrainerOptimizer(
        True, f"transformers {since} {newest}, which the project's requirements allow (before {since} the "
        f"Trainer's optimizer held every parameter, frozen ones too)",
    )
