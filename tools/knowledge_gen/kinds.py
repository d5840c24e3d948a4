"""The kinds a value evaluates to, their tri-state facts, and the torch names they hinge on."""

from __future__ import annotations

from typing import Optional, Tuple

from .resolve import Index

K = Tuple[str, Optional[str], Optional[bool], Optional[bool]]
DATA: K = ("data", None, False, False)
UNK: K = ("unk", None, None, None)
PARAM: K = ("param", None, True, False)
PARAMETER_CLASSES = ("torch.nn.parameter.Parameter", "torch.nn.parameter.UninitializedParameter")
_NN = "torch.nn.modules."
CONTAINERS = (
    _NN + "container.Sequential", _NN + "container.ModuleList", _NN + "container.ModuleDict",
    _NN + "container.ParameterList", _NN + "container.ParameterDict",
)
BATCHNORM_BASE = _NN + "batchnorm._BatchNorm"  # BatchNorm1d/2d/3d, SyncBatchNorm, LazyBatchNorm*
OPTIMIZER = "torch.optim.optimizer.Optimizer"
PRETRAINED_CLASSMETHODS = ("from_pretrained", "from_config", "from_single_file")


def is_batchnorm_class(ix: Index, q: str) -> bool:
    """A live BatchNorm: running statistics that `train()` updates (FrozenBatchNorm2d is not one)."""
    return q in ix.classes and BATCHNORM_BASE in ix.mro(q)


def join(a: Optional[bool], b: Optional[bool]) -> Optional[bool]:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def stored(k: K) -> Tuple[Optional[bool], Optional[bool]]:
    """What assigning `k` to `self.x` adds to the module (a plain list registers nothing)."""
    if k[0] in ("mod", "param", "unk"):
        return k[2], k[3]
    return False, False
