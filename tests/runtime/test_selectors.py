"""Selector semantics: dot boundaries, globs, wrapper prefixes, specificity, FRZ510."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import Net, TiedLM, make_step, objs, trainable  # noqa: E402
from freezelint.runtime import audit_step  # noqa: E402
from freezelint.runtime.selectors import ModelNames, Selectors, collapse, match_score  # noqa: E402


class Layers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(4, 4)
        self.layer10 = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.layer10(self.layer1(x)))


def test_dot_boundary():
    assert match_score("layer1", "layer1.weight") is not None
    assert match_score("layer1", "layer1.0.weight") is not None
    assert match_score("layer1", "layer10.weight") is None
    assert match_score("layer1.0", "layer1.0.weight") is not None
    assert match_score("layer1.0", "layer1.01.weight") is None


def test_globs_match_names_and_prefixes():
    assert match_score("embeddings.*", "embeddings.word.weight") is not None
    assert match_score("encoder.layer.[0-2]", "encoder.layer.1.attn.weight") is not None
    assert match_score("encoder.layer.[0-2]", "encoder.layer.3.attn.weight") is None
    assert match_score("*.bias", "head.bias") is not None
    assert match_score("*.bias", "head.weight") is None


def test_more_specific_trainable_selector_wins():
    model = Net(bn=False)
    sel = Selectors(model, ["backbone"], ["backbone.2"])
    assert sel.classify("backbone.0.weight").kind == "frozen"
    assert sel.classify("backbone.2.weight").kind == "trainable"
    assert sel.classify("head.weight").kind is None


def test_layer1_never_freezes_layer10_in_an_audit():
    model = Layers()
    model.layer1.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    x, y = torch.randn(5, 4), torch.randint(0, 2, (5,))
    assert audit_step(model, opt, make_step(model, opt, (x, y)), frozen=["layer1"]).findings == []


def test_selector_matching_nothing():
    model = Net(bn=False)
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    report = audit_step(model, opt, make_step(model, opt), frozen=["backbone", "backbon.0"], trainable=["heads"])
    assert report.codes == ["FRZ510"]
    assert objs(report, "FRZ510") == ["backbon.0", "heads"]
    messages = {f.obj: f.message for f in report.findings}
    assert "did you mean 'backbone.0'?" in messages["backbon.0"]
    assert "`trainable=`" in messages["heads"]


def test_data_parallel_and_compile_prefixes_are_stripped():
    inner = Net(bn=False)
    inner.backbone.requires_grad_(False)
    model = nn.DataParallel(inner)  # no GPU: a plain wrapper with `module.`
    names = ModelNames(model)
    assert [e.name for e in names.params][:2] == ["backbone.0.weight", "backbone.0.bias"]
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    for frozen in (["backbone"], ["module.backbone"], ["_orig_mod.backbone"]):
        report = audit_step(model, opt, make_step(model, opt), frozen=frozen)
        assert report.findings == [], frozen


def test_tied_parameter_keeps_all_its_names():
    names = ModelNames(TiedLM())
    (entry,) = [e for e in names.params if e.name == "embed.weight"]
    assert entry.names == ["embed.weight", "lm_head.weight"]
    assert len(names.params) == 3  # embed/lm_head weight once, body weight and bias


def test_collapse_uses_the_shortest_fully_covered_module():
    universe = ["a.0.weight", "a.0.bias", "a.1.weight", "b.weight", "b.bias"]
    assert collapse(["a.0.weight", "a.0.bias"], universe) == [("a.0", 2)]
    assert collapse(["a.0.weight", "a.0.bias", "a.1.weight"], universe) == [("a", 3)]
    assert collapse(["a.0.weight", "b.weight"], universe) == [("a.0.weight", 1), ("b.weight", 1)]
    assert collapse(universe, universe) == [("a", 3), ("b", 2)]  # never the root


def test_selector_types_are_checked():
    model = Net(bn=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="frozen= takes dotted names"):
        audit_step(model, opt, make_step(model, opt), frozen=[3])
    with pytest.raises(ValueError, match="not part of the audited model"):
        audit_step(model, opt, make_step(model, opt), frozen=[nn.Linear(2, 2)])
    report = audit_step(model, opt, make_step(model, opt), frozen="nothing.here")  # a single string is one selector
    assert report.codes == ["FRZ510"]
