"""What a class freezes, as the summaries record it (summary_freezes), and the project's freeze words."""

import ast
import textwrap

import pytest

from freezelint.static.summaries.freezes import class_freezes, freeze_words


def _cls(src: str) -> ast.ClassDef:
    return ast.parse(textwrap.dedent(src)).body[0]


@pytest.mark.parametrize(
    "body, frozen, unknown",
    [
        ("self.vae.requires_grad_(False)", ["vae"], False),
        ("for p in self.text.encoder.parameters():\n    p.requires_grad = False", ["text"], False),
        ("self.first = model.eval()", ["first"], False),
        ("self.first.train = disabled_train", ["first"], False),
        ("freeze(self.backbone)", ["backbone"], False),
        ("m = self.stem\nfor p in m.parameters():\n    p.requires_grad = False", ["stem"], False),
        ("self.requires_grad_(False)", [], True),
        ("for n, p in self.named_parameters():\n    if 'head' not in n:\n        p.requires_grad = False", [], True),
        ("self._freeze_stages()", [], True),
        ("self.eval()", [], False),  # the whole module's mode: not a freeze of a part
        ("x = x.detach().requires_grad_(True)", [], False),  # a tensor, not one of the class's modules
        ("print(self.head.weight.requires_grad)", [], False),
    ],
)
def test_class_freezes(body, frozen, unknown):
    src = "class C:\n    def setup(self, model, x):\n" + textwrap.indent(body, " " * 8) + "\n"
    assert class_freezes(_cls(src)) == (frozen, unknown)


def test_freeze_words_take_attribute_names_near_a_freeze_only():
    text = textwrap.dedent(
        """
        make_trainable(net.neck)

        for p in lit.backbone.parameters():
            p.requires_grad = False
        optimizer = Adam(lit.head.parameters())
        if self.cond_stage_trainable:
            params += list(self.cond_model.parameters())
        """
    )
    words = freeze_words(text)
    assert {"backbone", "neck"} <= set(words)
    assert not {"head", "cond_model", "cond_stage_trainable"} & set(words)


@pytest.mark.parametrize(
    "src, holds",
    [
        ("nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())", True),
        ("nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])", True),
        ("nn.Sequential(nn.ReLU(), nn.Dropout())", False),
        ("nn.Sequential(*layers)", False),  # what `layers` holds is not visible here
        ("nn.ModuleList([nn.LayerNorm(8, elementwise_affine=False)])", False),
        ("Wrapper(nn.Linear(2, 2))", False),  # not a torch container: it may freeze what it wraps
    ],
)
def test_container_holds_params(src, holds):
    from freezelint.static.summaries.freezes import container_holds_params

    assert container_holds_params(ast.parse(src).body[0].value) is holds
