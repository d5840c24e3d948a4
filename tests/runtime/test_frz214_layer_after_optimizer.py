"""FRZ214's claim and advice against torch: a layer installed after the optimizer was built never
moves; the advised `optimizer.add_param_group({'params': model.fc.parameters()})` makes it train."""

import torch
import torch.nn as nn


def _step(model, optimizer):
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    optimizer.zero_grad()


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
    model.fc = nn.Linear(6, 2)
    model.forward = lambda x: model.fc(model[1](model[0](x)))
    return model


def test_the_new_layer_gets_gradients_no_step_applies():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.fc = nn.Linear(6, 3)
    before = model.fc.weight.detach().clone()
    _step(model, optimizer)
    assert torch.equal(before, model.fc.weight)


def test_add_param_group_as_advised_trains_it():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.fc = nn.Linear(6, 3)
    optimizer.add_param_group({'params': model.fc.parameters()})
    before = model.fc.weight.detach().clone()
    _step(model, optimizer)
    assert not torch.equal(before, model.fc.weight)
