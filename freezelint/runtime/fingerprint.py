"""Exact change detection for tensors without cloning them.

The auditor must tell, bit for bit, whether a parameter or buffer changed during
one training step, on a model that may fill the GPU. It therefore never copies a
tensor: it reduces each tensor, on its own device and in chunks of bounded size,
to a small fingerprint, once before and once after the step.

Construction
------------
1. *Bits, not values.* The tensor's storage is reinterpreted (``Tensor.view``, no
   copy) as signed 16-bit limbs (8-bit for 1-byte dtypes). Element ``i`` with ``L``
   limbs ``s[i, 0..L-1]`` is identified with the integer
   ``V_i = sum_l s[i, l] * 2**(b*l)``; this signed-digit map is injective, so two
   elements with different bit patterns always have different ``V_i``. Comparing
   bits means ``0.0`` and ``-0.0`` differ, and a NaN that keeps its bit pattern is
   unchanged (``torch.equal`` would say the opposite in both cases).
2. *Blocks with random weights.* Elements are grouped in blocks of ``BLOCK = 2**16``
   consecutive elements (logical order). Each audit draws two random weight
   columns ``w[j, c]`` uniform in ``[1, 2**21)`` (from the OS entropy source and a
   private generator: the user's RNG state is never touched). For every block
   ``g``, limb ``l`` and column ``c`` the device computes
   ``T[g, l, c] = sum_j w[j, c] * s[g*BLOCK + j, l]`` as one float64 matrix product.
   Every term is an integer of magnitude below ``2**15 * 2**21 = 2**36`` and a block
   has ``2**16`` rows, so every partial sum stays below ``2**52 < 2**53``: float64
   represents it exactly whatever order BLAS/cuBLAS adds in. The result is exact
   integer arithmetic at matmul speed, on CPU and CUDA.
3. *Combining on the host.* ``S[g, c] = sum_l T[g, l, c] * 2**(b*l)`` (exact Python
   ints) equals ``sum_j w[j, c] * V_j``. Blocks are chained with a random point
   ``R`` modulo the Mersenne prime ``P = 2**127 - 1``:
   ``H_c = sum_g S[g, c] * R**g mod P``.

Guarantees
----------
* Any change to any single element always alters both ``H_c``: ``S[g, c]`` moves
  by ``w[j, c] * dV`` with ``0 < |w[j, c] * dV| < 2**21 * 2**64 < P``, hence by a
  non-zero residue, and ``R**g`` is invertible modulo ``P``.
* For any other change fixed independently of the audit's random draw, the
  probability that it goes unnoticed is at most ``2**-20`` per weight column that
  cancels inside a block (two independent columns: ``2**-41``), plus
  ``blocks / 2**127`` for a cancellation across blocks: negligible.

Extra memory is one float64 chunk (``chunk_bytes``, default between 1 MiB and
64 MiB; allocated once per device per pass and reused for every chunk of every
tensor, then freed) plus the 1 MiB weight table per device, independent
of model size; the
host receives 16 bytes per block per limb, in one transfer per fingerprint pass.
"""

from __future__ import annotations

import random
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

BLOCK = 1 << 16
WEIGHT_BITS = 21
P = (1 << 127) - 1
DEFAULT_MIN_CHUNK_BYTES = 1 << 20
DEFAULT_MAX_CHUNK_BYTES = 64 << 20

Fingerprint = Tuple  # (dtype, shape, H0, H1) or ("unsupported", ...)


def default_chunk_bytes(total_bytes: int) -> int:
    """A chunk of ~1/64 of the audited bytes, clamped to [1 MiB, 64 MiB]."""
    return int(min(DEFAULT_MAX_CHUNK_BYTES, max(DEFAULT_MIN_CHUNK_BYTES, total_bytes // 64)))


class Fingerprinter:
    """Computes exact fingerprints of many tensors in one pass per device."""

    def __init__(self, chunk_bytes: int = DEFAULT_MIN_CHUNK_BYTES, seed: Optional[int] = None):
        rng = random.SystemRandom() if seed is None else random.Random(seed)
        self._seed = rng.getrandbits(62)
        self._R = rng.randrange(2, P - 1)
        # float64 rows per chunk: a multiple of BLOCK, at least one block.
        self.chunk_rows_f64 = max(BLOCK, (int(chunk_bytes) // 8 // BLOCK) * BLOCK)
        self._weights: Dict[torch.device, torch.Tensor] = {}
        self._buffers: Dict[torch.device, torch.Tensor] = {}
        self._pow_cache: Dict[int, int] = {}

    # -- public -----------------------------------------------------------
    def fingerprint_many(self, tensors: Sequence[torch.Tensor]) -> List[Fingerprint]:
        """One fingerprint per tensor. Sparse and quantised tensors are fingerprinted
        through their dense parts (indices, values, integer representation, scales);
        a DTensor through its local shard; meta tensors cannot be (see `checkable`)."""
        flat: List[torch.Tensor] = []
        plans: List[Tuple[Optional[Fingerprint], Tuple, List[int]]] = []
        for t in tensors:
            t = _local(t)
            base = (str(t.dtype), tuple(t.shape))
            if t.device.type == "meta":
                plans.append((("unsupported",) + base + (id(t),), (), []))
                continue
            parts, meta = _parts(t)
            if parts is None:
                plans.append((base + (0, 0) if t.numel() == 0 else None, (), [len(flat)]))
                if t.numel():
                    flat.append(t)
                continue
            plans.append((None, (str(t.layout),) + base + meta, list(range(len(flat), len(flat) + len(parts)))))
            flat.extend(parts)
        dense = self._dense_many(flat)
        out: List[Fingerprint] = []
        for fixed, meta, idx in plans:
            if fixed is not None:
                out.append(fixed)
            elif not meta:
                out.append(dense[idx[0]])
            else:
                out.append(meta + tuple(dense[k] for k in idx))
        return out

    def _dense_many(self, tensors: Sequence[torch.Tensor]) -> List[Fingerprint]:
        pending: List[Tuple[int, List[Tuple[int, torch.Tensor]], int]] = []
        results: List[Optional[Fingerprint]] = [None] * len(tensors)
        with torch.no_grad():
            for idx, t in enumerate(tensors):
                if t.numel() == 0:
                    results[idx] = (str(t.dtype), tuple(t.shape), 0, 0)
                    continue
                entries: List[Tuple[int, torch.Tensor]] = []
                bits = self._accumulate_tensor(t.detach(), entries)
                pending.append((idx, entries, bits))
            self._resolve(pending, tensors, results)
        self._buffers.clear()  # the workspace lives for one pass only (not during the step)
        return results  # type: ignore[return-value]

    def fingerprint(self, t: torch.Tensor) -> Fingerprint:
        return self.fingerprint_many([t])[0]

    # -- internals --------------------------------------------------------
    def _weights_on(self, device: torch.device) -> torch.Tensor:
        w = self._weights.get(device)
        if w is None:
            g = torch.Generator(device="cpu")
            g.manual_seed(self._seed)
            w = torch.randint(1, 1 << WEIGHT_BITS, (BLOCK, 2), generator=g, dtype=torch.float64)
            w = w.t().contiguous().to(device)  # stored as (2, BLOCK): w^T
            self._weights[device] = w
        return w

    @staticmethod
    def _limbs(t: torch.Tensor) -> Tuple[torch.dtype, int, int]:
        es = t.element_size()
        if es % 2 == 0:
            return torch.int16, es // 2, 16
        return torch.int8, es, 8

    def _slabs(self, t: torch.Tensor, limb_dtype, nlimbs) -> Iterable[torch.Tensor]:
        """Yield (rows, nlimbs) integer views of t in logical element order."""
        if t.dim() == 0:
            t = t.reshape(1)
        if t.is_contiguous():
            yield t.reshape(-1).view(limb_dtype).view(-1, nlimbs)
            return
        # Non-contiguous (channels_last, transposed...): copy bounded slabs along dim 0.
        per_row = max(1, t[0].numel())
        step = max(1, self.chunk_rows_f64 // per_row)
        for i in range(0, t.shape[0], step):
            yield t[i : i + step].contiguous().reshape(-1).view(limb_dtype).view(-1, nlimbs)

    def _workspace(self, device: torch.device, nlimbs: int) -> torch.Tensor:
        """One reusable float64 chunk per device: no allocation (no page faults) per chunk."""
        need = max(self.chunk_rows_f64, BLOCK * nlimbs)
        buf = self._buffers.get(device)
        if buf is None or buf.numel() < need:
            buf = torch.empty(need, dtype=torch.float64, device=device)
            self._buffers[device] = buf
        return buf

    def _accumulate_tensor(self, t: torch.Tensor, out: List[Tuple[int, torch.Tensor]]) -> int:
        limb_dtype, nlimbs, bits = self._limbs(t)
        wt = self._weights_on(t.device)
        buf = self._workspace(t.device, nlimbs)
        chunk_rows = max(BLOCK, (self.chunk_rows_f64 // nlimbs // BLOCK) * BLOCK)
        offset = 0
        for rows in self._slabs(t, limb_dtype, nlimbs):
            n = rows.shape[0]
            i = 0
            while i < n:
                g, r = divmod(offset + i, BLOCK)
                k = min(BLOCK - r, n - i) if r else min(chunk_rows, n - i)
                x = buf[: k * nlimbs].view(k, nlimbs)
                x.copy_(rows[i : i + k])  # exact: |limb| <= 2**15
                if r:  # finish a block a previous slab started
                    out.append((g, (wt[:, r : r + k] @ x).t().unsqueeze(0)))
                    i += k
                    continue
                nb, tail = divmod(k, BLOCK)
                if nb:
                    # (2, BLOCK) @ (nb, BLOCK, nlimbs) -> (nb, 2, nlimbs), stored as (nb, nlimbs, 2)
                    full = x[: nb * BLOCK].view(nb, BLOCK, nlimbs)
                    out.append((g, torch.matmul(wt, full).transpose(1, 2)))
                if tail:
                    out.append((g + nb, (wt[:, :tail] @ x[nb * BLOCK :]).t().unsqueeze(0)))
                i += k
            offset += n
        return bits

    def _pow(self, g: int) -> int:
        v = self._pow_cache.get(g)
        if v is None:
            v = pow(self._R, g, P)
            self._pow_cache[g] = v
        return v

    def _resolve(self, pending, tensors, results) -> None:
        # One device->host transfer per device for the whole pass.
        by_device: Dict[torch.device, List[torch.Tensor]] = {}
        for _, entries, _ in pending:
            for _, e in entries:
                by_device.setdefault(e.device, []).append(e.reshape(-1))
        flat: Dict[torch.device, List[float]] = {}
        cursor: Dict[torch.device, int] = {}
        for dev, parts in by_device.items():
            flat[dev] = torch.cat(parts).cpu().tolist()
            cursor[dev] = 0
        for idx, entries, bits in pending:
            h0 = h1 = 0
            for g, e in entries:
                nb, nlimbs, _ = e.shape
                vals = flat[e.device]
                pos = cursor[e.device]
                for b in range(nb):
                    s0 = s1 = 0
                    for l in range(nlimbs):
                        base = pos + (b * nlimbs + l) * 2
                        s0 += int(vals[base]) << (bits * l)
                        s1 += int(vals[base + 1]) << (bits * l)
                    rp = self._pow(g + b)
                    h0 = (h0 + s0 * rp) % P
                    h1 = (h1 + s1 * rp) % P
                cursor[e.device] = pos + e.numel()
            t = tensors[idx]
            results[idx] = (str(t.dtype), tuple(t.shape), h0, h1)


def _local(t: torch.Tensor) -> torch.Tensor:
    inner = getattr(t, "_local_tensor", None)  # DTensor (FSDP2): this rank's shard
    return inner if isinstance(inner, torch.Tensor) else t


_COMPRESSED = {
    torch.sparse_csr: ("crow_indices", "col_indices"),
    torch.sparse_bsr: ("crow_indices", "col_indices"),
    torch.sparse_csc: ("ccol_indices", "row_indices"),
    torch.sparse_bsc: ("ccol_indices", "row_indices"),
}


def _parts(t: torch.Tensor) -> Tuple[Optional[List[torch.Tensor]], Tuple]:
    """(dense tensors that together hold t's bytes, extra metadata); (None, ()) for a dense tensor."""
    t = t.detach()
    if t.layout == torch.sparse_coo:
        return [t._indices(), t._values()], (bool(t.is_coalesced()),)
    if t.layout in _COMPRESSED:
        a, b = _COMPRESSED[t.layout]
        return [getattr(t, a)(), getattr(t, b)(), t.values()], ()
    if t.is_quantized:
        if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            return [t.int_repr()], (float(t.q_scale()), int(t.q_zero_point()))
        return [t.int_repr(), t.q_per_channel_scales(), t.q_per_channel_zero_points()], (int(t.q_per_channel_axis()),)
    return None, ()


def checkable(t: torch.Tensor) -> bool:
    """Can the audit compare this tensor's bytes? (Not on the meta device: there are none.)"""
    return _local(t).device.type != "meta"


def fingerprint(t: torch.Tensor, seed: Optional[int] = None) -> Fingerprint:
    """Fingerprint one tensor (a convenience for tests and ad-hoc checks)."""
    return Fingerprinter(seed=seed).fingerprint(t)
