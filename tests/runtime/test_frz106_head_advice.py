"""FRZ106 on a whole model frozen and then given a new head, against torch: the fix and the advice put the
frozen part in eval mode and leave the head training. `model.eval()` alone (what the rule advised before)
would have put the head's dropout and BatchNorm in eval mode too; the program as written lets the frozen
BatchNorm's running statistics move."""

import textwrap

import pytest
import torch
import torch.nn as nn

from freezelint.static.fix.fixer import fix_text
from freezelint.static.rules import load_rules
from freezelint.static.run import engine

PROGRAM = textwrap.dedent(
    """
    import torch
    import torch.nn as nn


    class Pretrained(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
            self.classifier = nn.Linear(8, 3)

        def forward(self, x):
            return self.classifier(self.features(x))


    def finetune(batches):
        model = Pretrained()
        for p in model.parameters():
            p.requires_grad = False
        model.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 3), nn.BatchNorm1d(3))
        optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.1)
        for x, y in batches:
            model.train()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return model


    def evaluate(net, x):
        net.eval()
        return net(x)
    """
)


def _lint(text):
    rules = [r for r in load_rules() if r.code == "FRZ106"]
    return engine.finalize("t.py", text, engine.lint_text("t.py", text, rules, None), frozenset())


def _run(text, **names):
    """Runs `finetune` of `text` for two steps: (the model, the modes of its parts at the last forward).
    The frozen BatchNorm starts with running mean 0; the batches have mean 1."""
    namespace: dict = dict(names)
    exec(compile(text, "<program>", "exec"), namespace)
    seen = {}

    def record(module, args):
        if type(module).__name__ == "Pretrained":
            seen.update(head=module.classifier.training, bn=module.features[1].training)

    torch.manual_seed(0)
    batches = [(torch.randn(16, 4) * 3 + 1, torch.randint(0, 3, (16,))) for _ in range(2)]
    handle = nn.modules.module.register_module_forward_pre_hook(record)
    try:
        model = namespace["finetune"](batches)
    finally:
        handle.remove()
    return model, seen


def _frozen_stats_kept(model):
    return torch.equal(model.features[1].running_mean, torch.zeros(8))


def test_the_message_names_the_head_and_the_frozen_part():
    (finding,) = _lint(PROGRAM)
    assert "`model.classifier` is set trainable after the freeze" in finding.message
    assert "call `model.eval()` then `model.classifier.train()` after every `model.train()`" in finding.message
    assert "`model.apply(set_bn_eval)`" in finding.message


def test_as_written_the_frozen_statistics_move():
    model, seen = _run(PROGRAM)
    assert seen == {"head": True, "bn": True}
    assert not _frozen_stats_kept(model)


def test_the_fix_keeps_the_frozen_statistics_and_the_head_training():
    result = fix_text("t.py", PROGRAM, _lint, True)
    assert result.fixed == 1
    assert "model.train()\n        model.eval()\n        model.classifier.train()\n" in result.text
    model, seen = _run(result.text)
    assert seen == {"head": True, "bn": False}
    assert _frozen_stats_kept(model)
    assert not _lint(result.text)


def test_eval_alone_would_put_the_head_in_eval_mode_too():
    model, seen = _run(PROGRAM.replace("model.train()\n", "model.train()\n        model.eval()\n"))
    assert seen == {"head": False, "bn": False}


def set_bn_eval(m):
    """The apply form the message names: each BatchNorm whose parameters are all frozen goes to eval mode."""
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
        m.eval()


def test_the_apply_form_keeps_the_frozen_statistics_and_the_head_training():
    text = PROGRAM.replace("model.train()\n", "model.train()\n        model.apply(set_bn_eval)\n")
    assert text != PROGRAM
    model, seen = _run(text, set_bn_eval=set_bn_eval)
    assert seen == {"head": True, "bn": False}
    assert model.classifier[2].training  # the head's own BatchNorm trains: it is not frozen
    assert _frozen_stats_kept(model)


@pytest.mark.parametrize("unfreeze", ["model.classifier.requires_grad_(True)", "model.classifier.requires_grad_()"])
def test_a_head_unfrozen_in_place_gets_the_same_advice(unfreeze):
    text = PROGRAM.replace(
        "model.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 3), nn.BatchNorm1d(3))", unfreeze
    )
    (finding,) = _lint(text)
    assert "call `model.eval()` then `model.classifier.train()` after every `model.train()`" in finding.message
    result = fix_text("t.py", text, _lint, True)
    model, seen = _run(result.text)
    assert seen == {"head": True, "bn": False}
    assert _frozen_stats_kept(model)
