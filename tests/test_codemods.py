"""The statement-level fixes (freezelint/static/fix/codemods): FRZ101, FRZ106, FRZ107, FRZ201, FRZ203.

Each fixture's fixed text parses, lints without the fixable findings of its rule, and keeps every
comment and blank line; the shapes the codemods must get right (an existing train() override,
one-line suites, CRLF, tabs, a move that is not provably safe); libcst is imported only for a
file that has such a fix; the fixes reach notebooks and the language server's code actions.
"""

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from fixture_markers import options
from static_support import FIXTURES, lint_findings
from freezelint.findings import Applicability
from freezelint.static.fix.fixer import fix_text

CODES = ["FRZ101", "FRZ106", "FRZ107", "FRZ201", "FRZ203"]


def _fix(text, select="ALL", unsafe=True):
    return fix_text("t.py", text, lambda t: lint_findings(t, select), unsafe)


def _kept_lines(text):
    """Every comment (with the line it is on when only a comment is there) and blank line: what a fix must keep."""
    import io
    import tokenize

    lines = text.splitlines()
    out = Counter(line for line in lines if not line.strip())
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.string if lines[tok.start[0] - 1].strip() != tok.string else lines[tok.start[0] - 1]] += 1
    return out


@pytest.mark.parametrize("code", CODES)
def test_fixture_fix_parses_lints_clean_and_keeps_comments(code):
    path = os.path.join(FIXTURES, code + ".py")
    text = open(path, encoding="utf-8").read()
    assert options(text).get("unsafe-fixes") == "true"
    before = [f for f in lint_findings(text) if f.code == code]
    assert any(f.fix is not None and f.fix.applicability is Applicability.UNSAFE for f in before)
    fixed = open(path[:-3] + ".fixed.py", encoding="utf-8").read()
    compile(fixed, path, "exec")
    after = [f for f in lint_findings(fixed) if f.code == code]
    assert len(after) == sum(1 for f in before if f.fix is None)  # only what had no fix is left
    assert not _kept_lines(text) - _kept_lines(fixed)


def test_safe_fixes_leave_these_alone():
    text = open(os.path.join(FIXTURES, "FRZ101.py"), encoding="utf-8").read()
    result = _fix(text, "FRZ101", unsafe=False)
    assert result.fixed == 0 and result.text == text


def test_frz101_inserts_after_the_eval_keeping_its_comment_and_one_line_suites():
    text = textwrap.dedent(
        """\
        def freeze(model, flag):
            model.backbone.eval()  # freeze the backbone
            if flag: model.head.eval()  # freeze
            return model
        """
    )
    assert _fix(text, "FRZ101").text == textwrap.dedent(
        """\
        def freeze(model, flag):
            model.backbone.eval()  # freeze the backbone
            model.backbone.requires_grad_(False)
            if flag:
                model.head.eval()  # freeze
                model.head.requires_grad_(False)
            return model
        """
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("indent", ["    ", "\t"])
def test_frz107_override_follows_the_file_newlines_and_indentation(newline, indent):
    lines = [
        "import torch.nn as nn",
        "import torchvision",
        "",
        "",
        "class Probe(nn.Module):",
        f"{indent}def __init__(self):",
        f"{indent}{indent}super().__init__()",
        f"{indent}{indent}self.backbone = torchvision.models.resnet18()",
        f"{indent}{indent}self.backbone.eval()",
        f"{indent}{indent}self.head = nn.Linear(1000, 2)",
        "",
        "",
        "x = 1",  # and no final newline
    ]
    text = newline.join(lines)
    fixed = _fix(text, "FRZ107").text
    override = [
        "",
        f"{indent}def train(self, mode=True):",
        f"{indent}{indent}super().train(mode)",
        f"{indent}{indent}self.backbone.eval()",
        f"{indent}{indent}return self",
    ]
    assert fixed == newline.join(lines[:10] + override + lines[10:])


def test_frz107_goes_into_a_passthrough_override_after_its_super_call():
    text = textwrap.dedent(
        """\
        import torch.nn as nn
        import torchvision


        class Probe(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = torchvision.models.resnet18()
                self.backbone.eval()  # frozen
                self.head = nn.Linear(1000, 2)

            def train(self, mode=True):
                return super().train(mode)
        """
    )
    findings = [f for f in lint_findings(text) if f.code == "FRZ107"]
    if not findings:
        pytest.skip("FRZ107 takes a passthrough override as keeping modes here")
    assert _fix(text, "FRZ107").text.endswith(
        "    def train(self, mode=True):\n"
        "        super().train(mode)\n"
        "        self.backbone.eval()\n"
        "        return self\n"
    )


_MODULE_HEAD = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"


@pytest.mark.parametrize(
    "body",
    [
        # the eval runs only when a constructor argument says so
        "    def __init__(self, freeze_bn=False):\n        super().__init__()\n        self.stem = nn.BatchNorm1d(2)\n"
        "        self.head = nn.Linear(2, 2)\n        if freeze_bn:\n            self.stem.eval()\n",
        # a helper given that argument (speechbrain's Pretrained._prepare_modules(freeze_params))
        "    def __init__(self, freeze_params=True):\n        super().__init__()\n        self.stem = nn.BatchNorm1d(2)\n"
        "        self.head = nn.Linear(2, 2)\n        self._prepare(freeze_params)\n\n"
        "    def _prepare(self, freeze_params):\n        if freeze_params:\n            self.stem.eval()\n",
        # a helper called under a condition
        "    def __init__(self, freeze=True):\n        super().__init__()\n        self.stem = nn.BatchNorm1d(2)\n"
        "        self.head = nn.Linear(2, 2)\n        if freeze:\n            self._freeze()\n\n"
        "    def _freeze(self):\n        self.stem.eval()\n",
    ],
)
def test_frz107_no_fix_for_an_eval_that_ran_under_a_condition_or_arguments(body):
    """Re-applying it unconditionally would freeze models built not to be frozen (or call a helper without its argument)."""
    text = _MODULE_HEAD + body
    found = [f for f in lint_findings(text) if f.code == "FRZ107"]
    assert len(found) == 1 and found[0].fix is None
    assert "then `self.stem.eval()` again, only when it ran at construction (keep the condition on `self`)" in found[0].message
    assert _fix(text, "FRZ107").text == text


def test_frz107_helper_always_called_plainly_is_called_again():
    text = _MODULE_HEAD + (
        "    def __init__(self, frozen_stages=1):\n        super().__init__()\n        self.frozen_stages = frozen_stages\n"
        "        self.stem = nn.BatchNorm1d(2)\n        self.head = nn.Linear(2, 2)\n        self._freeze_stages()\n\n"
        "    def _freeze_stages(self):\n        if self.frozen_stages >= 0:\n            self.stem.eval()\n"
    )
    (found,) = [f for f in lint_findings(text) if f.code == "FRZ107"]
    assert found.fix is not None and found.message.endswith("then `self._freeze_stages()`")
    assert _fix(text, "FRZ107").text == text + (
        "\n    def train(self, mode=True):\n        super().train(mode)\n        self._freeze_stages()\n        return self\n"
    )


@pytest.mark.parametrize(
    "init, helper, line",
    [
        # mmpretrain's BEiT: `if self.frozen_stages > 0: self._freeze_stages()`
        ("        if self.frozen_stages > 0:\n            self._freeze_stages()\n",
         "\n    def _freeze_stages(self):\n        self.stem.eval()\n", "self._freeze_stages()"),
        ("        if self.frozen_stages > 0:\n            self.stem.eval()\n", "", "self.stem.eval()"),
    ],
)
def test_frz107_eval_under_a_condition_on_self_is_reapplied_under_it(init, helper, line):
    text = _MODULE_HEAD + (
        "    def __init__(self, frozen_stages=1):\n        super().__init__()\n        self.frozen_stages = frozen_stages\n"
        "        self.stem = nn.BatchNorm1d(2)\n        self.head = nn.Linear(2, 2)\n" + init + helper
    )
    (found,) = [f for f in lint_findings(text) if f.code == "FRZ107"]
    assert found.fix is not None and found.message.endswith(f"then `if self.frozen_stages > 0: {line}`")
    fixed = _fix(text, "FRZ107").text
    assert fixed == text + (
        "\n    def train(self, mode=True):\n        super().train(mode)\n        if self.frozen_stages > 0:\n"
        f"            {line}\n        return self\n"
    )
    assert not [f for f in lint_findings(fixed) if f.code == "FRZ107"]


_BN_HEAD = _MODULE_HEAD + "    def __init__(self, freeze_bn=False):\n        super().__init__()\n        self.freeze_bn = freeze_bn\n" \
    "        self.bn1 = nn.BatchNorm2d(2)\n        self.head = nn.Linear(2, 2)\n"
_BN_LOOP = "for p in self.bn1.parameters():\n    p.requires_grad = False\n"


@pytest.mark.parametrize(
    "freeze, override",
    [
        (textwrap.indent(_BN_LOOP, " " * 8), "        self.bn1.eval()\n"),
        ("        if self.freeze_bn:\n" + textwrap.indent(_BN_LOOP, " " * 12), "        if self.freeze_bn:\n            self.bn1.eval()\n"),
        ("        if freeze_bn:\n" + textwrap.indent(_BN_LOOP, " " * 12), None),  # a constructor argument: no fix
    ],
)
def test_frz106_class_override_only_for_a_freeze_at_construction_it_can_repeat(freeze, override):
    text = _BN_HEAD + freeze

    def lint(t):  # with the file's project summary, as `check` lints it
        return lint_findings(t, "FRZ106", torch_version="2.4")

    (found,) = lint(text)
    fixed = fix_text("t.py", text, lint, True).text
    if override is None:
        assert found.fix is None and fixed == text
        return
    assert fixed == text + "\n    def train(self, mode=True):\n        super().train(mode)\n" + override + "        return self\n"
    assert lint(fixed) == []


def test_two_fixes_of_one_class_make_one_override():
    """Two findings of one class: the second fix goes into the override the first one added."""
    text = textwrap.dedent(
        """\
        import torch.nn as nn
        import torchvision


        class Probe(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = torchvision.models.resnet18()
                self.backbone.eval()
                self.neck = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
                self.head = nn.Linear(2, 2)
                self._freeze_neck()

            def _freeze_neck(self):
                self.neck.eval()
        """
    )
    assert sum(f.code == "FRZ107" and f.fix is not None for f in lint_findings(text)) == 2
    fixed = _fix(text, "FRZ107").text
    assert fixed.endswith(
        "        self.neck.eval()\n\n"
        "    def train(self, mode=True):\n"
        "        super().train(mode)\n"
        "        self.backbone.eval()\n"
        "        self._freeze_neck()\n"
        "        return self\n"
    )


def test_frz106_script_form_evals_after_each_train_call():
    text = textwrap.dedent(
        """\
        import torch.nn as nn


        def finetune(loader, make_optimizer):
            model = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3), nn.Conv2d(3, 3, 3))
            model[1].requires_grad_(False)
            stem = model
            stem.requires_grad_(False)
            optimizer = make_optimizer(model)
            for epoch in range(3):
                model.train()
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
        """
    )
    found = [f for f in lint_findings(text) if f.code == "FRZ106"]
    for f in found:
        if f.fix is not None:
            assert all(e.content.rstrip().endswith(".eval()") for e in f.fix.edits)


def test_frz201_moves_the_optimizer_after_the_freeze_with_a_filter():
    text = textwrap.dedent(
        """\
        import torch


        def setup(model):
            # the optimizer
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # plain SGD

            model.backbone.requires_grad_(False)  # freeze
            return optimizer
        """
    )
    assert _fix(text, "FRZ201").text == textwrap.dedent(
        """\
        import torch


        def setup(model):

            model.backbone.requires_grad_(False)  # freeze
            # the optimizer
            optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)  # plain SGD
            return optimizer
        """
    )


@pytest.mark.parametrize(
    "between",
    [
        "optimizer.zero_grad()",  # the optimizer is used before the freeze
        "model = model.half()",  # its argument is rebound
        "model.head = torch.nn.Linear(2, 2)",  # its argument's modules change
    ],
)
def test_frz201_no_move_unless_provably_the_same_optimizer(between):
    text = textwrap.dedent(
        f"""\
        import torch


        def setup(model):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            {between}
            model.backbone.requires_grad_(False)
            return optimizer
        """
    )
    found = [f for f in lint_findings(text) if f.code == "FRZ201"]
    assert found and all(f.fix is None for f in found)


def test_frz203_adds_only_what_was_unfrozen_after_the_whole_loop():
    text = textwrap.dedent(
        """\
        import torch


        def train(model, epochs):
            optimizer = torch.optim.Adam(model.classifier.parameters(), lr=1e-3)
            for epoch in range(epochs):
                if epoch == 2:
                    for name, p in model.encoder.named_parameters():
                        if name.startswith("layer4"):
                            p.requires_grad = True
        """
    )
    found = [f for f in lint_findings(text) if f.code == "FRZ203"]
    assert len(found) == 1 and found[0].fix is not None
    line = 'optimizer.add_param_group({"params": [p for p in model.encoder.parameters() if p.requires_grad]})'
    assert f"`{line}`" in found[0].message  # the advice is the fix
    assert _fix(text, "FRZ203").text.endswith(
        "                    p.requires_grad = True\n" f"            {line}\n"
    )


_ADD = 'optimizer.add_param_group({"params": [p for p in model.encoder.parameters() if p.requires_grad]})'


@pytest.mark.parametrize(
    "loop",
    [
        "for epoch in range(epochs):\n    if epoch >= 2:\n        model.encoder.requires_grad_(True)",
        "for epoch in range(epochs):\n    model.encoder.requires_grad_(True)",
        "for epoch in range(epochs):\n    for p in model.encoder.parameters():\n        p.requires_grad = True",
        "for epoch in range(epochs):\n    if epoch == 2 or epoch == 4:\n        model.encoder.requires_grad_(True)",
        "while step < 100:\n    if step == 10:\n        model.encoder.requires_grad_(True)",  # step never moves
        "for epoch in range(epochs):\n    if not done:\n        model.encoder.requires_grad_(True)",  # done never set
    ],
)
def test_frz203_no_fix_for_an_unfreeze_that_runs_at_every_pass_of_a_loop(loop):
    """A second add_param_group of the same parameters raises: no fix, and the advice says add them once."""
    body = textwrap.indent(loop, "    ")
    text = f"import torch\n\n\ndef train(model, epochs, step=0, done=False):\n    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=1e-3)\n{body}\n"
    found = [f for f in lint_findings(text) if f.code == "FRZ203"]
    assert len(found) == 1 and found[0].fix is None
    assert "runs at every pass of its loop, so add them once" in found[0].message
    assert _fix(text, "FRZ203").text == text


@pytest.mark.parametrize(
    "loop",
    [
        "for epoch in range(epochs):\n    if epoch == 2:\n        model.encoder.requires_grad_(True)",
        "for i, batch in enumerate(loader):\n    if i == 100 and epochs:\n        model.encoder.requires_grad_(True)",
        "while step < 100:\n    if step == 10:\n        model.encoder.requires_grad_(True)\n    step += 1",
        "for epoch in range(epochs):\n    if not self.unfrozen:\n        model.encoder.requires_grad_(True)\n        self.unfrozen = True",
        "for epoch in range(epochs):\n    pass\nmodel.encoder.requires_grad_(True)",
    ],
)
def test_frz203_fix_for_an_unfreeze_that_runs_once(loop):
    body = textwrap.indent(loop, "    ")
    text = (
        "import torch\n\n\ndef train(self, model, epochs, loader, step=0):\n"
        f"    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=1e-3)\n{body}\n"
    )
    found = [f for f in lint_findings(text) if f.code == "FRZ203"]
    assert len(found) == 1 and found[0].fix is not None and f"`{_ADD}`" in found[0].message
    fixed = _fix(text, "FRZ203").text
    assert fixed.count(_ADD) == 1 and "requires_grad_(True)\n" + " " * (fixed.index(_ADD) - fixed.rindex("\n", 0, fixed.index(_ADD)) - 1) + _ADD in fixed


def test_frz203_no_fix_when_the_optimizer_holds_some_of_what_is_unfrozen():
    text = textwrap.dedent(
        """\
        import torch


        def train(model, epochs):
            optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-3)
            for epoch in range(epochs):
                if epoch == 2:
                    model.requires_grad_(True)
        """
    )
    for f in lint_findings(text):
        if f.code == "FRZ203":
            assert f.fix is None


def test_frz203_fix_runs_against_torch():
    """The added group holds only what was unfrozen: torch accepts it (no parameter twice)."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model.requires_grad_(False)
    model[1].requires_grad_(True)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
    model[0].requires_grad_(True)
    exec(compile('optimizer.add_param_group({"params": [p for p in model[0].parameters() if p.requires_grad]})', "fix", "exec"))
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 4


def _imports_libcst(tmp_path, text):
    f = tmp_path / "m.py"
    f.write_text(text)
    code = (
        "import sys\n"
        "from freezelint.cli import main\n"
        f"try:\n    main(['check', {str(f)!r}, '-q', '--no-cache'])\nexcept SystemExit:\n    pass\n"
        "print('libcst' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[-1] == "True"


def test_libcst_is_imported_only_for_a_file_with_a_statement_fix(tmp_path):
    frz001 = "import torch.nn as nn\nm = nn.Linear(2, 2)\nm.requires_grad = False\n"
    assert not _imports_libcst(tmp_path, frz001)
    frz101 = "def freeze_backbone(model):\n    model.backbone.eval()\n"
    assert _imports_libcst(tmp_path, frz101)


def test_notebook_cell_gets_the_inserted_line(run_cli, tmp_path):
    cells = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["import torch\n"]},
        {
            "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": ["def freeze_backbone(model):\n", "    model.backbone.eval()  # frozen"],
        },
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["print(1)"]},
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    code, out, _ = run_cli("check", "--no-cache", "--diff", "--unsafe-fixes", str(path))
    assert "nb.ipynb:cell 2" in out and "+    model.backbone.requires_grad_(False)" in out
    run_cli("check", "--no-cache", "--fix", "--unsafe-fixes", str(path))
    got = json.loads(path.read_text())["cells"]
    assert got[1]["source"] == [
        "def freeze_backbone(model):\n", "    model.backbone.eval()  # frozen\n", "    model.backbone.requires_grad_(False)",
    ] or got[1]["source"] == [
        "def freeze_backbone(model):\n", "    model.backbone.eval()  # frozen\n", "    model.backbone.requires_grad_(False)\n",
    ]
    assert got[0] == cells[0] and got[2] == cells[2]


def test_notebook_class_override_stays_in_the_class_cell(run_cli, tmp_path):
    head, cls = CLASS_EVAL.split("\n\n\n")
    sources = [head + "\n", cls.rstrip("\n"), "net = Net(None)\nnet.train()"]
    cells = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s.splitlines(True)}
        for s in sources
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1))
    run_cli("check", "--no-cache", "--fix", "--unsafe-fixes", "--select", "FRZ107", str(path))
    got = json.loads(path.read_text())["cells"]
    assert got[0] == cells[0] and got[2] == cells[2]
    assert "".join(got[1]["source"]).rstrip("\n") == cls.rstrip("\n") + (
        "\n\n    def train(self, mode=True):\n        super().train(mode)\n        self.backbone.eval()\n        return self"
    )


def test_code_action_offers_the_unsafe_fix(tmp_path):
    from freezelint.server.actions import actions_for
    from freezelint.server.documents import Snapshot
    from freezelint.server.linting import lint_snapshot
    from freezelint.server.project_model import Projects

    text = "def freeze_backbone(model):\n    model.backbone.eval()  # frozen\n"
    path = tmp_path / "m.py"
    path.write_text(text)
    result = lint_snapshot(Projects(use_cache=False), Snapshot(path.as_uri(), str(path), 1, text))
    actions = actions_for(result, path.as_uri(), (1, 4), (1, 10))
    fix = [a for a in actions if a.title.startswith("Fix FRZ101")]
    assert len(fix) == 1 and "unsafe" in fix[0].title and not fix[0].preferred
    from freezelint.server.actions import apply_changes

    assert apply_changes(text, fix[0].changes[path.as_uri()]) == text + "    model.backbone.requires_grad_(False)\n"


CLASS_EVAL = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.backbone.eval()  # frozen
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.backbone(x))
"""


def test_diff_and_show_fixes_of_the_statement_fixes(run_cli, tmp_path):
    """--diff shows them only with --unsafe-fixes and writes nothing; --show-fixes lists what --fix applied."""
    path = tmp_path / "net.py"
    path.write_text(CLASS_EVAL)
    code, out, err = run_cli("check", "--no-cache", "--diff", str(path))
    assert out == "" and "2 more with `--unsafe-fixes`" in err
    code, out, err = run_cli("check", "--no-cache", "--diff", "--unsafe-fixes", str(path))
    assert "+        self.backbone.requires_grad_(False)" in out and "+    def train(self, mode=True):" in out
    assert "Would fix 2 findings" in err and path.read_text() == CLASS_EVAL
    code, out, err = run_cli("check", "--no-cache", "--fix", "--unsafe-fixes", "--show-fixes", str(path))
    assert code == 0 and "1 × FRZ101 (eval-as-freeze)" in err and "1 × FRZ107 (eval-in-init-undone-by-train)" in err
    fixed = path.read_text()
    assert fixed.endswith("\n    def train(self, mode=True):\n        super().train(mode)\n        self.backbone.eval()\n        return self\n")
    assert run_cli("check", "--no-cache", "--select", "FRZ101,FRZ107", str(path))[0] == 0
