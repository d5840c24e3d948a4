"""`watch()`: the next optimizer steps of a live session are audited and the report shown when done."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from freezelint.runtime import watch  # noqa: E402

CELL = "model = Net()\nmodel.backbone.requires_grad = False  # freeze the backbone\n"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


def _train(model, steps=3):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(2, 4)).sum().backward()
        opt.step()


def test_watch_reads_the_cells_and_reports_the_no_op_freeze(monkeypatch):
    monkeypatch.setattr(sys.modules["__main__"], "In", ["", CELL], raising=False)
    w = watch(show=False)
    model = Net()
    model.backbone.requires_grad = False  # freeze the backbone
    _train(model)
    assert w.report is not None, "the report is ready after the audited steps"
    assert w.report.codes == ["FRZ504"] and not w.report.ok
    assert "declared frozen at <cells>:3" in w.report.findings[0].message
    html = w.report._repr_html_()
    assert 'data-module="backbone"' in html and "FRZ504" in html
    w.stop()


def test_watch_passes_a_correct_freeze_and_stops_watching(capsys):
    w = watch(static=False, show=True)
    model = Net()
    model.backbone.requires_grad_(False)
    _train(model)
    assert w.report is not None and w.report.ok and w.report.codes == []
    assert "All checks passed!" in capsys.readouterr().err  # shown (no IPython here: as text)
    n = len(w.runner.records)
    _train(model)  # later steps are no longer audited
    assert len(w.runner.records) == n
    w.stop()
