"""Did each parameter and buffer change during the step, and was any replaced?

Before the step each tensor's state is recorded: the restore copy when the
snapshot keeps one that can be compared in place (dense CPU tensors, compared
bit for bit afterwards), else a fingerprint (`fingerprint.py`, no clone).
After the step the tensor *now in the module's slot* is compared: a step that
assigns a new `nn.Parameter` or buffer (dynamic RoPE re-registering `inv_freq`,
code re-wrapping parameters) is compared by value, and the replacement itself
is reported (`replaced`). Meta tensors have no bytes: they are `unchecked`.

FSDP2 (DTensor parameters): each rank fingerprints its local shard, and the
changed flags are combined across ranks (a MAX all-reduce), so every rank
reports a frozen shard that changed on any rank, under the unsharded name.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from freezelint.runtime.fingerprint import Fingerprinter, checkable, default_chunk_bytes
from freezelint.runtime.optimizers import local
from freezelint.runtime.selectors import ModelNames, TensorEntry
from freezelint.runtime.state import Snapshot, bits_equal

_GONE = object()


def _is_dtensor(t: torch.Tensor) -> bool:
    return isinstance(getattr(t, "_local_tensor", None), torch.Tensor)


class ChangeTracker:
    def __init__(self, names: ModelNames, snapshot: Optional[Snapshot], chunk_bytes: Optional[int]):
        self.entries: List[TensorEntry] = list(names.params) + list(names.buffers)
        self.n_params = len(names.params)
        tensors = [e.tensor for e in self.entries]
        copies = snapshot.comparable_copies() if snapshot is not None else {}
        self.copies: List[Optional[torch.Tensor]] = [copies.get(id(t)) for t in tensors]
        self.checkable = [checkable(t) for t in tensors]
        self.unchecked = [e.name for e, ok in zip(self.entries, self.checkable) if not ok]
        self.fp_idx = [k for k, c in enumerate(self.copies) if c is None and self.checkable[k]]
        fp_tensors = [tensors[k] for k in self.fp_idx]
        total = sum(local(t).numel() * local(t).element_size() for t in fp_tensors)
        self.fp = Fingerprinter(chunk_bytes or default_chunk_bytes(total))
        self.before = self.fp.fingerprint_many(fp_tensors)
        self.sharded = any(_is_dtensor(t) for t in tensors)

    def slot(self, k: int):
        """The object now in entry k's first slot (`_GONE` when the slot is empty)."""
        e = self.entries[k]
        mod, attr, _ = e.owners[0]
        table = mod._parameters if k < self.n_params else mod._buffers
        now = table.get(attr, _GONE)
        return _GONE if now is None else now

    def replaced(self) -> List[Tuple[int, TensorEntry, object]]:
        """(index, entry, new object or _GONE) for each tensor no longer in its slot."""
        out = []
        for k, e in enumerate(self.entries):
            now = self.slot(k)
            if now is not e.tensor:
                out.append((k, e, now))
        return out

    def changed_flags(self) -> List[bool]:
        """Per parameter then buffer: do the bits now in its slot differ from before the step?"""
        current = []
        for k, e in enumerate(self.entries):
            now = self.slot(k)
            current.append(now if isinstance(now, torch.Tensor) else None)
        flags = [False] * len(self.entries)
        fp_now = [k for k in self.fp_idx if current[k] is not None and checkable(current[k])]
        after = dict(zip(fp_now, self.fp.fingerprint_many([current[k] for k in fp_now])))
        for k, b in zip(self.fp_idx, self.before):
            flags[k] = after.get(k) != b
        with torch.no_grad():
            for k, saved in enumerate(self.copies):
                if saved is not None:
                    flags[k] = current[k] is None or not bits_equal(current[k], saved)
        for k, t in enumerate(current):
            if t is None:
                flags[k] = True  # the slot was emptied
        return self._across_ranks(flags)

    def _across_ranks(self, flags: List[bool]) -> List[bool]:
        if not self.sharded or not flags:
            return flags
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return flags
        device = torch.device("cpu")
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        t = torch.tensor(flags, dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]


__all__ = ["ChangeTracker"]
