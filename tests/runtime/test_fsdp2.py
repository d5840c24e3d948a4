"""FSDP2 (`fully_shard`, DTensor parameters): 2 processes, gloo backend, CPU.

Each rank fingerprints its local shards; changed flags are combined across ranks,
so a frozen shard that changes on one rank is reported on every rank, under the
unsharded parameter name. restore=True puts each rank's shards back.
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
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


def _sharded(mesh, set_to_none=True, warm=False):
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    model = Model()
    if not warm:
        model.backbone.requires_grad_(False)
    for m in (model.backbone[0], model.backbone[2], model.head, model):
        fully_shard(m, mesh=mesh)
    opt = torch.optim.SGD(model.parameters() if warm else [p for p in model.parameters() if p.requires_grad],
                          lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(dist.get_rank())
    x, y = torch.randn(8, 4, generator=g), torch.randint(0, 2, (8,), generator=g)

    def step():
        opt.zero_grad(set_to_none=set_to_none)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    if warm:  # optimizer built over everything, then the backbone is frozen
        step()
        model.backbone.requires_grad_(False)
    return model, opt, step


def _local_bits(model):
    return {n: p._local_tensor.detach().clone().view(torch.int32).tolist() for n, p in model.named_parameters()}


def _worker(rank, world, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(out_dir, 'rendezvous')}", rank=rank, world_size=world)
    try:
        from torch.distributed.device_mesh import init_device_mesh

        from freezelint.runtime import audit_step

        mesh = init_device_mesh("cpu", (world,))
        res = {}
        model, opt, step = _sharded(mesh)
        res["is_dtensor"] = type(model.backbone[0].weight).__name__
        res["correct"] = [[f.code, f.obj] for f in audit_step(model, opt, step, frozen=["backbone"]).findings]

        def one_rank_writes():
            step()
            if rank == 1:  # only this rank's shard of a frozen weight changes
                with torch.no_grad():
                    model.backbone[2].weight._local_tensor.add_(1.0)

        report = audit_step(model, opt, one_rank_writes, frozen=["backbone"])
        res["one_rank"] = [[f.code, f.obj] for f in report.findings]

        model, opt, step = _sharded(mesh, set_to_none=False, warm=True)
        res["zero_filled"] = [[f.code, f.obj] for f in audit_step(model, opt, step, frozen=["backbone"]).findings]

        model, opt, step = _sharded(mesh)
        before = _local_bits(model)
        audit_step(model, opt, step, frozen=["backbone"], restore=True)
        res["restored"] = _local_bits(model) == before
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(res, fh)
        # both ranks done before either tears gloo down: a rank destroying the group while the other
        # still has collectives in flight can abort ("terminate called without an active exception")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_fsdp2_two_processes_gloo(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        res = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert res["is_dtensor"] == "DTensor"
        assert res["correct"] == []
        # caught on both ranks, named as the unsharded model names it
        assert res["one_rank"] == [["FRZ502", "backbone.2.weight"]]
        assert res["zero_filled"] == [["FRZ502", "backbone"]]
        assert res["restored"] is True
