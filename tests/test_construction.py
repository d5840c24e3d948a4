"""Constructor -> instance: what `__init__` does to `self` (summary_init), resolved across the
hierarchy and its `self` calls (ClassTable.construction_effects), and asked at a trainer's train()."""

import ast
import textwrap

from freezelint.static.run import engine
from freezelint.static.semantic.project import ProjectIndex
from freezelint.static.summaries.file_summary import FileSummary
from freezelint.static.summaries.functions import function_summary
from freezelint.static.summaries.constructor import init_summary

from static_support import lint_findings


def _init(src):
    return init_summary(ast.parse(textwrap.dedent(src)).body[0])


def test_init_effects_keep_the_parameter_they_run_under():
    got = _init(
        """
        def __init__(self, a, freeze_bn=False, *, k=None):
            if freeze_bn:
                self.freeze_bn()
            else:
                self.backbone.eval()
            if not a:
                for p in self.bn1.parameters():
                    p.requires_grad = False
            if self.q:
                self.head.eval()
            self.z.eval()
        """
    )
    assert got.calls == [("freeze_bn", "freeze_bn")]
    assert got.effects == [("backbone", "eval", "!freeze_bn"), ("bn1", "freeze", "!a"), ("head", "eval", "?"), ("z", "eval", "")]
    assert got.params == ["a", "freeze_bn"] and got.defaults == {"freeze_bn": False, "k": False}


def test_a_modules_loop_of_eval_is_an_eval_of_some_modules_below():
    fn = ast.parse("def f(self):\n    for _, m in self.backbone.named_modules():\n        m.eval()\n        m.requires_grad = False\n").body[0]
    # `m.requires_grad = False` on a module freezes nothing: no FREEZE recorded
    assert function_summary(fn, method=True).effects == [(0, "backbone.*", "eval")]


def test_construction_effects_follow_self_calls_to_a_base_in_another_file():
    base = engine.summarize_text(
        "import torch.nn as nn\nclass Base(nn.Module):\n    def freeze_bn(self):\n"
        "        for m in self.modules():\n            m.eval()\n"
    )
    sub = engine.summarize_text(
        "from pkg.base import Base\nclass Net(Base):\n    def __init__(self, freeze_bn=False):\n"
        "        super().__init__()\n        if freeze_bn:\n            self.freeze_bn()\n"
    )
    index = ProjectIndex.build([base, sub], ["pkg.base", "pkg.net"])
    (eff,) = index.class_table.construction_effects("Net")
    assert (eff.path, eff.kind, eff.guard, eff.owner, eff.method) == ("*", "eval", "freeze_bn", "pkg.net.Net", "freeze_bn")
    assert "Net" in index.constructed_names and index.class_table.construction_effects("Base") == ()
    # the summary survives the cache's JSON round trip
    again = FileSummary.from_json(sub.to_json()).class_info["Net"].init
    assert again == sub.class_info["Net"].init


def _trainer(ctor):
    return textwrap.dedent(
        f"""
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, freeze_bn=False):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
                if freeze_bn:
                    self.freeze_bn()

            def freeze_bn(self):
                for m in self.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.eval()

        def fit(loader, flag):
            model = {ctor}
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model.train()
            for x in loader:
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        """
    )


def test_the_call_site_arguments_decide_whether_the_construction_evaluated():
    def codes(ctor):
        return [(f.code, f.line) for f in lint_findings(_trainer(ctor), "FRZ107")]

    assert codes("Net(freeze_bn=True)") == [("FRZ107", 20)]
    assert codes("Net(True)") == [("FRZ107", 20)]
    assert codes("Net(freeze_bn=flag)") == [("FRZ107", 20)]  # the argument may be true: say on which
    assert codes("Net()") == []  # default False
    assert codes("Net(freeze_bn=False)") == []
    assert codes("Net(**flag)") == []  # cannot tell what it passes
    msg = lint_findings(_trainer("Net(freeze_bn=flag)"), "FRZ107")[0].message
    assert "`freeze_bn=flag`" in msg and "`Net` does not override `train()`" in msg


def test_a_train_override_keeps_it_silent():
    src = _trainer("Net(freeze_bn=True)").replace(
        "    def freeze_bn(self):", "    def train(self, mode=True):\n        super().train(mode)\n        self.freeze_bn()\n        return self\n\n    def freeze_bn(self):"
    )
    assert lint_findings(src, "FRZ107") == []
