"""Small real models and training steps shared by the runtime tests."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

F = nn.functional


class Net(nn.Module):
    """backbone (Linear, BatchNorm1d, ReLU, Linear) + head."""

    def __init__(self, bn: bool = True, d_in: int = 6, d: int = 8, n_out: int = 3):
        super().__init__()
        layers = [nn.Linear(d_in, d)] + ([nn.BatchNorm1d(d)] if bn else []) + [nn.ReLU(), nn.Linear(d, d)]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(d, n_out)

    def forward(self, x):
        return self.head(self.backbone(x))


class TiedLM(nn.Module):
    """Embedding whose weight is tied to the output projection (GPT-2 style)."""

    def __init__(self, vocab: int = 11, d: int = 6):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.body = nn.Linear(d, d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, ids):
        return self.lm_head(torch.tanh(self.body(self.embed(ids))))


def make_batch(seed: int = 0, n: int = 16, d_in: int = 6, n_out: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g), torch.randint(0, n_out, (n,), generator=g)


def make_step(model, optimizer, batch=None, set_to_none: bool = True):
    x, y = batch if batch is not None else make_batch()

    def step():
        optimizer.zero_grad(set_to_none=set_to_none)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def lm_step(model, optimizer):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 11, (4, 5), generator=g)

    def step():
        optimizer.zero_grad()
        logits = model(ids[:, :-1])
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).backward()
        optimizer.step()

    return step


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def objs(report, code):
    return sorted(f.obj for f in report.findings if f.code == code)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
