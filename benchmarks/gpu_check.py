"""CUDA check of the runtime auditor on a model that fills most of the GPU (a few minutes).

    python benchmarks/gpu_check.py                    # fill 70% of the free memory
    python benchmarks/gpu_check.py --fill 0.5 --repeats 3
    python benchmarks/gpu_check.py --device cpu --param-mib 64   # smoke test without a GPU

Builds a stack of residual MLP blocks (plain torch, no download) sized so that
parameters + gradients + AdamW state (16 bytes per fp32 parameter) take `--fill`
of the free device memory, then for a frozen-backbone fine-tune (first half of
the blocks frozen) and a full fine-tune:

* times a plain training step and `audit_step(..., restore=False)`, interleaved,
  median of `--repeats` (TF32 matmuls, CUDA synchronised around each step);
* reads the peak device memory (`torch.cuda.max_memory_allocated`) of each, and
  prints the audited step's extra peak over the parameter bytes;
* checks the audit's verdict: the correct set-ups give no finding, and a frozen
  weight written in the step (one element) is FRZ502.

Prints one Markdown table (paste it into benchmarks/RESULTS_runtime.md) and a
JSON line. Not a test: CI never runs it. Exit code 2 when the device is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from freezelint.runtime import audit_step  # noqa: E402

BYTES_PER_PARAM = 16  # fp32 parameter + gradient + AdamW exp_avg + exp_avg_sq


class Block(nn.Module):
    def __init__(self, d: int, device):
        super().__init__()
        self.norm = nn.LayerNorm(d, device=device)
        self.up = nn.Linear(d, 2 * d, device=device)
        self.down = nn.Linear(2 * d, d, device=device)

    def forward(self, x):
        return x + self.down(torch.relu(self.up(self.norm(x))))


class Stack(nn.Module):
    def __init__(self, d: int, n: int, device):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(d, device) for _ in range(n)])
        self.head = nn.Linear(d, d, device=device)

    def forward(self, x):
        return self.head(self.blocks(x))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plan(args, device):
    """(width, blocks) so that 16 bytes per parameter fill the budget."""
    if args.param_mib:
        budget = args.param_mib * 2**20 * BYTES_PER_PARAM // 4
    else:
        free, _total = torch.cuda.mem_get_info(device)
        budget = int(free * args.fill)
    d = args.width
    per_block = 4 * d * d + 5 * d  # up (2d*d + 2d) + down (2d*d + d) + norm (2d)
    n = max(2, int(budget // BYTES_PER_PARAM // per_block))
    return d, n


def build(args, device, frozen_backbone: bool):
    torch.manual_seed(0)
    d, n = plan(args, device)
    model = Stack(d, n, device)
    frozen = None
    if frozen_backbone:
        frozen = [f"blocks.{i}" for i in range(n // 2)]
        for name in frozen:
            model.get_submodule(name).requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(args.tokens, d, device=device, generator=g)

    def step():
        opt.zero_grad()
        model(x).float().pow(2).mean().backward()
        opt.step()

    return model, opt, step, frozen, n


def timed(fn, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def peak(fn, device) -> int:
    if device.type != "cuda":
        return 0
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated(device) - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--fill", type=float, default=0.7, help="share of the free device memory for params+grads+AdamW")
    ap.add_argument("--param-mib", type=int, default=0, help="parameter MiB instead of --fill (smoke tests)")
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --device cpu --param-mib 64 for a smoke test)", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    rows, out = [], {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                     "torch": torch.__version__, "setups": []}
    for label, frozen_backbone in (("frozen backbone", True), ("full fine-tune", False)):
        model, opt, step, frozen, n = build(args, device, frozen_backbone)
        params = list({id(p): p for p in model.parameters()}.values())
        pbytes = sum(p.numel() * p.element_size() for p in params)
        audited = lambda: audit_step(model, opt, step, frozen=frozen, restore=False)  # noqa: E731
        for _ in range(2):
            step()  # warm-up: kernels, allocator, AdamW state
        times = {"plain": [], "audited": []}
        for r in range(args.repeats):
            order = ["plain", "audited"] if r % 2 == 0 else ["audited", "plain"]
            for k in order:
                times[k].append(timed(step if k == "plain" else audited, device))
        plain_t, audit_t = statistics.median(times["plain"]), statistics.median(times["audited"])
        plain_m, audit_m = peak(step, device), peak(audited, device)
        verdict = audited().codes

        def bad():
            step()
            with torch.no_grad():
                model.blocks[0].up.weight.view(-1)[12345] += 1.0

        # a frozen weight written in the step: one element of the first frozen block
        caught = audit_step(model, opt, bad, frozen=frozen, restore=False).codes if frozen else None
        total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else 0
        used = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
        res = {
            "setup": label, "blocks": n, "params_M": pbytes / 4 / 1e6, "param_GiB": pbytes / 2**30,
            "plain_s": plain_t, "audited_s": audit_t, "ratio": audit_t / plain_t,
            "extra_peak_over_params": max(0, audit_m - plain_m) / pbytes, "device_peak_over_total": used / total if total else 0.0,
            "findings_correct": verdict, "findings_one_element_written": caught,
        }
        out["setups"].append(res)
        rows.append(res)
        del model, opt, step, params
        if device.type == "cuda":
            torch.cuda.empty_cache()

    print(f"{out['device']}, torch {out['torch']}, median of {args.repeats}, restore=False")
    print()
    print("| set-up | params | param GiB | plain step s | audited/plain | extra peak / param bytes | device peak / total | findings (correct) | findings (1 frozen element written) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setup']} | {r['params_M']:.0f} M | {r['param_GiB']:.1f} | {r['plain_s']:.3f} | {r['ratio']:.2f}x | "
              f"{r['extra_peak_over_params']:.1%} | {r['device_peak_over_total']:.0%} | "
              f"{', '.join(r['findings_correct']) or 'none'} | "
              f"{'-' if r['findings_one_element_written'] is None else ', '.join(r['findings_one_element_written']) or 'none'} |")
    print()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
