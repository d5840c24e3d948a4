"""Cost of the runtime auditor on a real model: time ratio and peak extra memory.

    python benchmarks/bench_runtime.py            # GPT-2 from a small config, CPU (or CUDA)
    python benchmarks/bench_runtime.py --repeats 9 --layers 6 --embd 384
    python benchmarks/bench_runtime.py --preset gpt2-124m --threads 1 --repeats 5 --memory-runs 1

Builds a transformers GPT-2 from its config with random weights (no download),
trains it with AdamW, and reports medians over several runs of:

* time: audited step / plain step (`audit_step(..., restore=False)` and `restore=True`);
  the three are run interleaved (plain, audited, restored, plain, ...) so that a
  change in the machine's load during the run hits all three alike;
* memory: the audited step's peak minus the plain step's peak, over the
  parameter bytes, and the fingerprint pass's own working memory over the
  parameter bytes. On CUDA the peaks come from `torch.cuda.max_memory_allocated`
  (device memory; the restore snapshot lives on the host and is reported
  separately); on CPU from the process RSS sampled every 0.5 ms (in runs separate from the timed ones), with glibc told to
  serve every allocation over 64 KiB by mmap so that freed memory leaves the RSS.

Two set-ups: a frozen-backbone fine-tune (embeddings and the first half of the
blocks frozen) and a full fine-tune. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

if sys.platform.startswith("linux") and os.environ.get("MALLOC_MMAP_THRESHOLD_") != "65536":
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"  # freed tensors must leave the RSS
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from freezelint.runtime import audit_step  # noqa: E402
from freezelint.runtime.fingerprint import Fingerprinter, default_chunk_bytes  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class Peak:
    """Peak memory while the block runs, relative to its start."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = rss()
            self.peak = self.start
            self._stop = False
            self._t = threading.Thread(target=self._sample, daemon=True)
            self._t.start()
        return self

    def _sample(self):
        while not self._stop:
            self.peak = max(self.peak, rss())
            time.sleep(0.0005)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.value = torch.cuda.max_memory_allocated() - self.start
        else:
            self._stop = True
            self._t.join()
            self.peak = max(self.peak, rss())
            self.value = self.peak - self.start
        return False


def build(args, device):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=args.vocab, n_positions=max(args.seq, args.positions or 0), n_embd=args.embd, n_layer=args.layers, n_head=args.heads,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(cfg).to(device)
    model.train()
    return model


def setup(model, args, device, frozen_backbone: bool):
    frozen = None
    if frozen_backbone:
        half = args.layers // 2
        frozen = ["transformer.wte", "transformer.wpe"] + [f"transformer.h.{i}" for i in range(half)]
        for name in frozen:
            model.get_submodule(name).requires_grad_(False)
    else:
        model.requires_grad_(True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g).to(device)

    def step():
        opt.zero_grad()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()

    return opt, step, frozen


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    """(wall seconds, process CPU seconds). On a shared machine the CPU time of a
    1-thread run is far less disturbed by other processes than the wall time."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


CPU_TIMES: dict = {}


def interleaved(fns, device, repeats):
    """Median wall time of each fn, run round-robin (rotating the order every round);
    the median CPU times go to CPU_TIMES[id(fn)]."""
    times = [[] for _ in fns]
    cpu = [[] for _ in fns]
    for r in range(repeats):
        order = list(range(len(fns)))
        order = order[r % len(fns):] + order[: r % len(fns)]
        for k in order:
            w, c = timed(fns[k], device)
            times[k].append(w)
            cpu[k].append(c)
    for fn, c in zip(fns, cpu):
        CPU_TIMES[id(fn)] = statistics.median(c)
    return [statistics.median(t) for t in times]


def peak(fn, device, runs) -> float:
    """Median peak memory over `runs` runs (0 runs: not measured, reported as 0)."""
    peaks = []
    for _ in range(runs):
        with Peak(device) as pk:
            fn()
        peaks.append(pk.value)
    return statistics.median(peaks) if peaks else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--embd", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--positions", type=int, default=None, help="n_positions (default: --seq)")
    ap.add_argument("--memory-runs", type=int, default=3, help="runs per peak-memory figure (0: skip)")
    ap.add_argument("--freezelint-run", action="store_true",
                    help="measure `freezelint run` against plain `python` on one script instead (bench_run_section)")
    ap.add_argument("--preset", choices=["gpt2-124m"], default=None,
                    help="gpt2-124m: 12 layers, n_embd 768, 12 heads, vocab 50257 (124 M parameters)")
    args = ap.parse_args()
    if args.freezelint_run:
        return bench_run_section(args.repeats)
    if args.preset == "gpt2-124m":
        args.layers, args.embd, args.heads, args.vocab, args.positions = 12, 768, 12, 50257, 1024
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rows = []
    for label, frozen_backbone in (("frozen backbone", True), ("full fine-tune", False)):
        model = build(args, device)
        opt, step, frozen = setup(model, args, device, frozen_backbone)
        params = list({id(p): p for p in model.parameters()}.values())
        pbytes = sum(p.numel() * p.element_size() for p in params)
        tbytes = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
        for _ in range(2):  # warm-up: allocator, Adam state
            step()
        audited = lambda: audit_step(model, opt, step, frozen=frozen, restore=False)  # noqa: E731
        restored = lambda: audit_step(model, opt, step, frozen=frozen, restore=True)  # noqa: E731
        plain_t, a_t, r_t = interleaved([step, audited, restored], device, args.repeats)
        cpu_ratios = (CPU_TIMES[id(audited)] / CPU_TIMES[id(step)], CPU_TIMES[id(restored)] / CPU_TIMES[id(step)])
        plain_m, a_m, r_m = (peak(f, device, args.memory_runs) for f in (step, audited, restored))
        tensors = params + list(model.buffers())
        fp = Fingerprinter(default_chunk_bytes(pbytes))
        (fp_t,) = interleaved([lambda: fp.fingerprint_many(tensors)], device, args.repeats)
        fp_m = peak(lambda: fp.fingerprint_many(tensors), device, args.memory_runs)
        report = audit_step(model, opt, step, frozen=frozen)
        rows.append((label, len(params), pbytes, tbytes, plain_t, a_t, r_t, fp_t, plain_m, a_m, r_m, fp_m, report.codes, cpu_ratios))

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end: {load:.1f}")
    print(f"GPT-2 {rows[0][2] / 4 / 1e6:.1f} M parameters (fp32), {args.layers} layers, n_embd {args.embd}, vocab {args.vocab}, batch {args.batch}x{args.seq}, "
          f"AdamW, {dev}, torch {torch.__version__}, median of {args.repeats}")
    print()
    head = ("set-up", "params", "param MiB", "trainable MiB", "plain step s", "audited/plain", "restore/plain",
            "audited/plain CPU time", "restore/plain CPU time",
            "fingerprint pass s", "extra peak/params", "restore extra/params", "fingerprint mem/params", "findings")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (label, n, pb, tb, pt, at, rt, ft, pm, am, rm, fm, codes, (ac, rc)) in rows:
        print("| " + " | ".join([
            label, f"{n} tensors", f"{pb / 2**20:.1f}", f"{tb / 2**20:.1f}", f"{pt:.3f}",
            f"{at / pt:.2f}x", f"{rt / pt:.2f}x", f"{ac:.2f}x", f"{rc:.2f}x", f"{ft:.4f}",
            f"{max(0, am - pm) / pb:.1%}", f"{max(0, rm - pm) / pb:.1%}", f"{fm / pb:.1%}",
            ", ".join(codes) or "none",
        ]) + " |")
    if device.type == "cuda":
        print("\nOn CUDA the restore snapshot is on the host: its device extra is ~0; host cost ~ (1 + 2) x trainable bytes.")


RUN_SCRIPT = """
import statistics, sys, time
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(*[nn.Linear(256, 256) for _ in range(8)], nn.Linear(256, 10))
model[:4].requires_grad_(False)
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
times = []
for i in range(int(sys.argv[1])):
    t = time.perf_counter()
    x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))
    opt.zero_grad(); nn.functional.cross_entropy(model(x), y).backward(); opt.step()
    times.append(time.perf_counter() - t)
print("STEPS", statistics.median(times[:2]), statistics.median(times[10:]))
"""


def bench_run_section(repeats: int, steps: int = 200) -> None:
    """`freezelint run SCRIPT` against `python SCRIPT`: whole-process wall time (median of `repeats`,
    interleaved), and inside the script the first two steps (audited) and the median step after them
    (not audited: only the global hooks' flag check runs)."""
    import statistics
    import subprocess
    import sys
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "train.py")
        with open(script, "w") as fh:
            fh.write(RUN_SCRIPT)
        cmds = {
            "python": [sys.executable, script, str(steps)],
            "freezelint run": [sys.executable, "-m", "freezelint", "run", script, str(steps)],
            "freezelint run --no-static": [sys.executable, "-m", "freezelint", "run", "--no-static", script, str(steps)],
        }
        wall: dict = {k: [] for k in cmds}
        first: dict = {k: [] for k in cmds}
        later: dict = {k: [] for k in cmds}
        for _ in range(repeats):
            for k, cmd in cmds.items():
                t = time.perf_counter()
                out = subprocess.run(cmd, cwd=d, capture_output=True, text=True, check=False).stdout
                wall[k].append(time.perf_counter() - t)
                line = next(ln for ln in out.splitlines() if ln.startswith("STEPS"))
                a, b = map(float, line.split()[1:])
                first[k].append(a)
                later[k].append(b)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"`freezelint run` vs `python`, {steps} AdamW steps of a 9-layer MLP (256 wide), CPU, torch {torch.__version__}, "
          f"median of {repeats} interleaved runs, load average {load:.1f}")
    print("| command | process wall s | first 2 steps (audited) ms | later steps (not audited) ms |")
    print("|---|---|---|---|")
    for k in cmds:
        print(f"| {k} | {statistics.median(wall[k]):.2f} | {statistics.median(first[k]) * 1e3:.2f} | "
              f"{statistics.median(later[k]) * 1e3:.3f} |")


if __name__ == "__main__":
    main()
