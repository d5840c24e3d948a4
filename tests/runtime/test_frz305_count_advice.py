"""FRZ305's advice, run against torch: the counting it recommends reports what trains, the halving it
flags reports half of it. A 4-bit weight is stood in for by a Parameter named `Params4bit` holding its
packed uint8 storage (two weights per byte), as bitsandbytes stores it."""

import ast
import inspect
import io
import re
from contextlib import redirect_stdout

import pytest
import torch
import torch.nn as nn

from freezelint.static.rules.selection.frz305_quantized_trainable_count_halved import QuantizedTrainableCountHalved


class Params4bit(nn.Parameter):
    def __new__(cls, weights: int):
        self = super().__new__(cls, torch.zeros(weights // 2, 1, dtype=torch.uint8), requires_grad=False)
        self.quant_storage = torch.uint8
        return self


class LoraLinear(nn.Module):
    def __init__(self, n_in: int, n_out: int, rank: int):
        super().__init__()
        self.base_weight = Params4bit(n_in * n_out)  # frozen, packed
        self.lora_a = nn.Parameter(torch.zeros(rank, n_in))
        self.lora_b = nn.Parameter(torch.zeros(n_out, rank))


def _doc_block(heading: str) -> str:
    doc = inspect.cleandoc(QuantizedTrainableCountHalved.__doc__)
    section = doc.split(f"## {heading}", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _printed_percent(code: str, model, bits: int) -> float:
    namespace: dict = {}
    exec(compile(ast.parse(code), "<doc>", "exec"), namespace)
    fn = namespace["print_trainable_parameters"]
    out = io.StringIO()
    with redirect_stdout(out):
        fn(*((type("Args", (), {"bits": bits})(), model) if "args" in inspect.signature(fn).parameters else (model,)))
    return float(re.search(r"([\d.]+)%", out.getvalue()).group(1))


@pytest.fixture
def model():
    return nn.ModuleList([LoraLinear(64, 32, rank=4) for _ in range(3)])


def test_the_advised_count_reports_what_trains(model):
    trainable = 3 * (4 * 64 + 32 * 4)
    total = trainable + 3 * 64 * 32  # every 4-bit weight counted once, not once per packed byte
    assert _printed_percent(_doc_block("Use instead"), model, bits=4) == pytest.approx(100 * trainable / total, abs=0.01)


def test_the_flagged_count_reports_half_of_it(model):
    # the example divides the trainable sum; the fixed form is what the message tells the user to write
    trainable = 3 * (4 * 64 + 32 * 4)
    packed_total = trainable + 3 * 64 * 32 // 2
    flagged = _printed_percent(_doc_block("Example"), model, bits=4)
    assert flagged == pytest.approx(100 * (trainable / 2) / packed_total, abs=0.01)
    assert flagged != pytest.approx(_printed_percent(_doc_block("Use instead"), model, bits=4), abs=0.5)
