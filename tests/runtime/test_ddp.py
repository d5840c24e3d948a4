"""DistributedDataParallel: 2 processes, gloo backend, CPU.

FRZ511 when requires_grad flags change after DDP was built; names without `module.`.
"""

import json
import os

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo is not available"),
]


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


def _scenario(name):
    torch.manual_seed(0)
    model = Model()
    if name in ("correct", "frozen_after_wrap_unfrozen"):
        model.backbone.requires_grad_(False)
    if name == "frozen_after_wrap_unfrozen":
        ddp = nn.parallel.DistributedDataParallel(model)
        model.backbone.requires_grad_(True)  # unfrozen after wrapping
    else:
        ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=(name == "frozen_after_wrap"))
    if name == "frozen_after_wrap":
        model.backbone.requires_grad_(False)  # frozen after wrapping
    params = [p for p in ddp.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(dist.get_rank())
    x, y = torch.randn(8, 4, generator=g), torch.randint(0, 2, (8,), generator=g)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()

    return ddp, opt, step


def _worker(rank, world, out_dir):
    # A file rendezvous, not a TCP port: no race with other processes for a free port.
    store = os.path.join(out_dir, "rendezvous")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        from freezelint.runtime import audit_step

        results = {}
        for name in ("correct", "frozen_after_wrap", "frozen_after_wrap_unfrozen"):
            ddp, opt, step = _scenario(name)
            frozen = ["module.backbone"] if name == "correct" else None  # a DDP-style name, stripped
            report = audit_step(ddp, opt, step, frozen=frozen)
            results[name] = [[f.code, f.obj, f.message] for f in report.findings]
            results[name + ":names"] = [n for n, _ in ddp.named_parameters()][:1]
            dist.barrier()
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(results, fh)
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_gloo(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        res = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert res["correct:names"] == ["module.backbone.0.weight"]  # torch's names ...
        assert res["correct"] == []  # ... and ours: `module.backbone` selector works
        frozen_after = res["frozen_after_wrap"]
        assert [(c, o) for c, o, _ in frozen_after] == [("FRZ511", "backbone")]
        assert "frozen after DistributedDataParallel was built (2 parameters)" in frozen_after[0][2]
        unfrozen = res["frozen_after_wrap_unfrozen"]
        assert [(c, o) for c, o, _ in unfrozen] == [("FRZ511", "backbone")]
        assert "unfrozen after DistributedDataParallel was built" in unfrozen[0][2]
