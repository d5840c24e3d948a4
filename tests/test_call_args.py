"""Caller -> callee across files: a parameter's kind from every call site in the project.

`summaries.call_sites` records what each call of a project name passes (a construction, a name bound once
by one, the caller's own parameter, `self.x`, `.parameters()`); `semantic.call_args` joins them (every
site must agree, no call may be missed); `facts` asks when a parameter has no other evidence, and a
class's `self.x = x` then holds what every construction passes (`ClassTable`: BatchNorm below it).
"""

import ast
import json
import textwrap

import pytest

from freezelint.static.semantic.project import ProjectIndex, summarize
from freezelint.static.summaries.call_sites import CallSites, call_sites
from freezelint.static.summaries.file_summary import FileSummary


def _sites(src: str, imports=None) -> CallSites:
    text = textwrap.dedent(src)
    return call_sites(ast.parse(text), imports or {}, text)


# -- what a caller's summary records ------------------------------------------------------------------


def test_a_site_records_constructions_names_bound_once_parameters_and_parameter_iterables():
    cs = _sites(
        """
        from .models import Net
        from .helpers import lock, attach

        def build(cfg, head):
            net = Net(cfg).cuda()
            lock(net, head)
            attach(net.parameters(), Net(cfg))
        """,
        {"Net": ".models.Net", "lock": ".helpers.lock", "attach": ".helpers.attach"},
    )
    assert cs.calls["build"] == [
        ("Net", ["p0"], {}), ("lock", ["c:Net", "p1"], {}), ("Net", ["p0"], {}), ("attach", ["P", "c:Net"], {}),
    ]


def test_a_name_bound_twice_a_constant_or_an_expression_tells_nothing():
    cs = _sites(
        """
        def helper(m, n=None):
            pass

        def main(flag):
            net = Net()
            if flag:
                net = Other()
            helper(net)
            helper(None, 3)
            helper(flag + 1)

        class Net:
            pass
        """
    )
    assert "main" not in cs.calls and "helper" in cs.dead


def test_names_used_as_values_star_calls_and_decorators_make_a_callee_dead():
    cs = _sites(
        """
        import functools

        def a(m): pass
        def b(m): pass
        def c(m): pass

        @functools.lru_cache()
        def d(m): pass

        table = {"a": a}
        functools.partial(b, 1)
        c(*[Net()])
        """
    )
    assert {"a", "b", "c"} <= set(cs.dead) and cs.decorated == ["d"]


def test_type_tests_and_super_are_not_uses_of_a_class_as_a_value():
    cs = _sites(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, backbone):
                super(Net, self).__init__()
                self.backbone = backbone

            @classmethod
            def make(cls, cfg):
                assert isinstance(cfg, Net)
                return cls(Backbone())

        class Backbone(nn.Module):
            pass
        """
    )
    assert "Net" not in cs.dead
    assert cs.calls["Net.make"] == [("Net", ["c:Backbone"], {})]  # `cls(...)`: this class
    assert cs.stored == {"Net": {"backbone": ("backbone", 1)}} and cs.init_params["Net"] == ["self", "backbone"]


def test_a_class_building_itself_from_a_config_is_a_call_not_seen():
    cs = _sites(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, backbone):
                super().__init__()
                self.backbone = backbone

            @classmethod
            def from_config(cls, cfg):
                return cls(**cfg)
        """
    )
    assert cs.dead == ["Net"]


def test_self_attributes_and_self_in_methods():
    cs = _sites(
        """
        class Trainer:
            def fit(self):
                step(self.model, self)

        def step(model, trainer):
            pass
        """
    )
    assert cs.calls["Trainer.fit"] == [("step", ["s:model", "p0"], {})]


def test_only_lines_mentioning_a_name_are_walked_and_the_result_is_the_same():
    src = textwrap.dedent(
        """
        from .m import f, Net

        def g(x):
            y = [i for i in range(3)]
            return f(Net(), x)
        """
    )
    imports = {"f": ".m.f", "Net": ".m.Net"}
    assert call_sites(ast.parse(src), imports, src).to_json() == call_sites(ast.parse(src), imports, None).to_json()


def test_sites_survive_the_summary_cache_round_trip():
    s = summarize(textwrap.dedent(
        """
        from .models import Net
        from .helpers import lock
        lock(Net(), head=Net().parameters())
        """
    ))
    again = FileSummary.from_json(json.loads(json.dumps(s.to_json())))
    assert again.sites.to_json() == s.sites.to_json() and again.sites.calls[""] == [("lock", ["c:Net"], {"head": "P"})]


# -- the project's join --------------------------------------------------------------------------------

MODELS = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)


def build():
    return Net()
"""
HELPERS = """
def disable(net):
    net.requires_grad = False
"""


def _index(files):
    names = list(files)
    return ProjectIndex.build([summarize(textwrap.dedent(files[n])) for n in names], [n[:-3].replace("/", ".") for n in names])


@pytest.mark.parametrize("call, expected", [
    ("disable(Net())", ("c:models.Net",)),
    ("disable(build())", ("c:models.build",)),
    ("net = Net()\ndisable(net)", ("c:models.Net",)),
])
def test_every_site_agrees(call, expected):
    idx = _index({"models.py": MODELS, "helpers.py": HELPERS,
                  "train.py": "from models import Net, build\nfrom helpers import disable\n" + call + "\n"})
    assert idx.call_args("helpers.disable", "net") == expected


@pytest.mark.parametrize("other", [
    "disable(torch.zeros(3))",  # a tensor at one site
    "disable(cfg.model)",  # something unknown
    "disable()",  # the default
    "fn = disable",  # called where it is not seen
    "disable(*mods)",
])
def test_one_site_not_known_is_no_answer(other):
    idx = _index({"models.py": MODELS, "helpers.py": HELPERS,
                  "train.py": "import torch\nfrom models import Net\nfrom helpers import disable\ndisable(Net())\n",
                  "other.py": "import torch\nfrom helpers import disable\n" + other + "\n"})
    assert idx.call_args("helpers.disable", "net") is None


def test_a_caller_parameter_is_followed_to_its_own_callers():
    idx = _index({"models.py": MODELS, "helpers.py": HELPERS + "\n\ndef prepare(model):\n    disable(model)\n",
                  "train.py": "from models import Net\nfrom helpers import prepare\nprepare(Net())\n"})
    assert idx.call_args("helpers.disable", "net") == ("c:models.Net",)


def test_a_subclassed_class_has_no_answer_for_its_init():
    wrap = "import torch.nn as nn\n\nclass Wrap(nn.Module):\n    def __init__(self, inner):\n        super().__init__()\n        self.inner = inner\n"
    files = {"models.py": MODELS, "wrap.py": wrap, "train.py": "from models import Net\nfrom wrap import Wrap\nm = Wrap(Net())\n"}
    assert _index(files).call_args("wrap.Wrap", "inner") == ("c:models.Net",)
    assert _index(files).class_table.attr_constructor("wrap.Wrap", "inner") == "models.Net"
    files["sub.py"] = "from wrap import Wrap\n\nclass Sub(Wrap):\n    pass\n"
    assert _index(files).call_args("wrap.Wrap", "inner") is None


def test_a_package_reexport_is_followed():
    files = {"pkg/__init__.py": "from .models import build\n", "pkg/models.py": MODELS, "helpers.py": HELPERS,
             "train.py": "import pkg\nfrom helpers import disable\ndisable(pkg.build())\n"}
    assert _index(files).call_args("helpers.disable", "net") == ("c:pkg.models.build",)


# -- what the rules see --------------------------------------------------------------------------------

WRAPPER = """
import torch.nn as nn


class Tracker(nn.Module):
    def __init__(self, extractor, head, frozen=True):
        super().__init__()
        self.extractor = extractor
        self.head = head
        if frozen:
            for p in self.extractor.parameters():
                p.requires_grad_(False)
"""
BUILDERS = """
from models import Net, Head
from tracker import Tracker


def tracker_small():
    backbone = Net()
    return Tracker(backbone, Head())


def tracker_large():
    return Tracker(extractor={extractor}, head=Head())
"""


def _project(tmp_path, files):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def _findings(run_cli, root, *paths):
    code, stdout, _ = run_cli("check", *(paths or (".",)), "--no-cache", "--output-format", "concise", cwd=root)
    return [ln for ln in stdout.splitlines() if ": FRZ" in ln]


def test_a_stored_constructor_argument_holding_batchnorm_frozen_and_never_evaluated(run_cli, tmp_path):
    root = _project(tmp_path, {"models.py": MODELS, "tracker.py": WRAPPER, "builders.py": BUILDERS.format(extractor="Net()")})
    lines = _findings(run_cli, root)
    assert len(lines) == 1 and "tracker.py:12:" in lines[0] and "FRZ106" in lines[0], lines
    assert "`self.extractor` is frozen but nothing puts it in eval mode" in lines[0]


@pytest.mark.parametrize("extractor", ["Head()", "make_extractor()", "nn.Linear(8, 8)"])
def test_constructions_that_disagree_or_say_nothing_stay_silent(run_cli, tmp_path, extractor):
    builders = BUILDERS.format(extractor=extractor) + "\n\ndef make_extractor():\n    import random\n    return random.choice([1])\n"
    root = _project(tmp_path, {"models.py": MODELS, "tracker.py": WRAPPER, "builders.py": builders})
    assert _findings(run_cli, root) == []


def test_a_module_attribute_set_on_a_parameter_known_only_from_another_file(run_cli, tmp_path):
    train = "from models import Net\nfrom helpers import disable\n\ndisable(Net())\n"
    root = _project(tmp_path, {"models.py": MODELS, "helpers.py": HELPERS, "train.py": train})
    lines = _findings(run_cli, root)
    assert len(lines) == 1 and "helpers.py:3:" in lines[0] and "FRZ001" in lines[0], lines
    # linted alone, the helper still sees the caller in the project
    assert [ln.lstrip("./") for ln in _findings(run_cli, root, "helpers.py")] == [ln.lstrip("./") for ln in lines]


@pytest.mark.parametrize("extra", [
    "import torch\ndisable(torch.zeros(3))\n",  # a tensor: requires_grad is its own flag there
    "def later(x):\n    disable(x)\n",  # a caller's parameter nobody passes
    "handlers = [disable]\n",  # called where it is not seen
])
def test_a_parameter_with_one_site_unknown_stays_silent(run_cli, tmp_path, extra):
    train = "from models import Net\nfrom helpers import disable\n\ndisable(Net())\n"
    other = "from helpers import disable\n" + extra
    root = _project(tmp_path, {"models.py": MODELS, "helpers.py": HELPERS, "train.py": train, "other.py": other})
    assert _findings(run_cli, root) == []


def test_a_parameter_rebound_in_the_callee_is_the_new_value(run_cli, tmp_path):
    helpers = "def disable(net):\n    net = net.body[0].weight\n    net.requires_grad = False\n"
    train = "from models import Net\nfrom helpers import disable\n\ndisable(Net())\n"
    root = _project(tmp_path, {"models.py": MODELS, "helpers.py": helpers, "train.py": train})
    assert _findings(run_cli, root) == []


KEEPER = """
import torch.nn as nn


class Pair(nn.Module):
    def __init__(self, extractor, head):
        super().__init__()
        self.extractor = extractor
        self.head = head
{train}
"""
KEEPS_EVAL = """
    def train(self, mode=True):
        super().train(mode)
        self.extractor.train(False)
        return self
"""
SCRIPT = """
import torch
from models import Net, Head
from pair import Pair


def build():
    return Pair(Net(), Head())


def run(loader):
    net = build()
    for p in net.extractor.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.SGD(net.head.parameters(), lr=0.1)
    net.train()
    for x, y in loader:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(net.head(net.extractor(x)), y).backward()
        optimizer.step()


def evaluate(net, loader):
    net.eval()
    return [net(x) for x in loader]
"""


@pytest.mark.parametrize("train, expected", [("", ["script.py:14:"]), (KEEPS_EVAL, [])])
def test_a_script_freezing_a_stored_argument_and_the_class_that_keeps_it_in_eval(run_cli, tmp_path, train, expected):
    root = _project(tmp_path, {"models.py": MODELS, "pair.py": KEEPER.format(train=train), "script.py": SCRIPT})
    lines = _findings(run_cli, root)
    assert [ln.lstrip("./").split(" ")[0].rsplit(":", 2)[0] + ":" for ln in lines] == expected, lines
    assert all("FRZ106" in ln for ln in lines)


SAME_FILE = """
import torch.nn as nn


def disable(net):
    net.requires_grad = False


def main():
    disable(nn.Linear(2, 2))
"""


@pytest.mark.parametrize("other, expected", [
    ("", ["helpers.py:6:"]),  # its own file's call alone
    ("from models import Net\nfrom helpers import disable\ndisable(Net())\n", ["helpers.py:6:"]),  # another file agrees
    ("import torch\nfrom helpers import disable\ndisable(torch.zeros(3))\n", []),  # another file passes a tensor
    ("from helpers import disable\nhooks = [disable]\n", []),  # another file calls it where we do not see
])
def test_the_file_own_calls_and_the_other_files(run_cli, tmp_path, other, expected):
    root = _project(tmp_path, {"models.py": MODELS, "helpers.py": SAME_FILE, "other.py": other})
    lines = _findings(run_cli, root)
    assert [ln.lstrip("./").split(" ")[0].rsplit(":", 2)[0] + ":" for ln in lines] == expected, lines


def test_a_warm_run_sees_a_caller_edited_in_another_file(run_cli, tmp_path, monkeypatch):
    from freezelint.static.run.cache import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    train = "from models import Net\nfrom helpers import disable\n\ndisable(Net())\n"
    root = _project(tmp_path, {"models.py": MODELS, "helpers.py": HELPERS, "train.py": train})
    lint = lambda: [ln for ln in run_cli("check", ".", "--output-format", "concise", cwd=root)[1].splitlines() if ": FRZ" in ln]
    first = lint()
    assert len(first) == 1 and "FRZ001" in first[0] and lint() == first  # cold, then warm from the cache
    (root / "train.py").write_text("import torch\nfrom helpers import disable\n\ndisable(torch.zeros(3))\n")
    assert lint() == []  # helpers.py unchanged, its cached finding dropped: what its callers pass changed
