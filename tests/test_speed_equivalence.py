"""The shortcuts taken for speed answer exactly what the plain versions answered.

Each cheaper form is checked against the form it replaced, kept here as the reference:
the walk that skips the node classes a visitor ignores, the prefilters searched per
trigger word, the case-insensitive prefilter run on lowered text, and FRZ008's map of
next statements built from statements only.
"""

from __future__ import annotations

import ast
import glob
import os
import re

import pytest

from freezelint.static.parse import walk as walk_mod
from freezelint.static.rules import base
from freezelint.static.rules.api.frz004_requires_grad_no_effect import RequiresGradNoEffect
from freezelint.static.rules.api.frz007_grad_mode_call_discarded import GradModeCallDiscarded
from freezelint.static.rules.api.frz008_decorator_never_applied import DecoratorNeverApplied
from freezelint.static.rules.optimizer.frz204_freeze_after_wrap import FreezeAfterWrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = sorted(glob.glob(os.path.join(ROOT, "fixtures", "static", "*.py")))


def _texts():
    out = [open(p, encoding="utf-8").read() for p in FIXTURES]
    out += [
        "torch.no_grad\n", "torch.no_grad  # note\n", "torch.no_grad;x = 1\n", "torch.no_grad()\n",
        "with torch.no_grad():\n    pass\n", "torch.inference_mode(True)\n", "torch.enable_grad() # x\n",
        "torch.compiler.disable(f)\n", "torch._dynamo.disable\n", "disable = 1\n", "x.set_grad_enabled\n",
        "p.requires_grad == False\n", "p.requires_grad is None\n", "p.requires_grad_\n", "p.requires_grad_ # c\n",
        "p.requires_grad_()\n", "p.requires_grad  !=  x\n", "p.requires_grad_;\n", "requires_grad\n",
    ]
    return out


# -- the walk ------------------------------------------------------------------


class _Recorder:
    """Records every visit/leave; optionally returns False (skip children) at some classes."""

    def __init__(self, log, name, stop=()):
        self.log, self.name, self.stop = log, name, tuple(stop)

    def on_visit(self, node):
        self.log.append((self.name, "visit", id(node)))
        return False if isinstance(node, self.stop) else None

    def on_leave(self, node):
        self.log.append((self.name, "leave", id(node)))


class _Picky(_Recorder):
    """The same visitor, but telling the walk which classes it ignores."""

    def __init__(self, log, name, wanted, stop=()):
        super().__init__(log, name, stop)
        self.wanted = tuple(wanted)

    def visitor_for(self, cls):
        return self.on_visit if issubclass(cls, self.wanted) else None

    def leaver_for(self, cls):
        return self.on_leave if issubclass(cls, self.wanted) else None


@pytest.mark.parametrize("path", FIXTURES[:12])
def test_walk_calls_what_a_visitor_wants_in_the_same_order(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    wanted = (ast.stmt, ast.Call, ast.Lambda)
    plain, picky = [], []
    walk_mod.walk(tree, [_Recorder(plain, "a"), _Recorder(plain, "b")])
    walk_mod.walk(tree, [_Recorder(picky, "a"), _Picky(picky, "b", wanted)])
    ids = {id(n) for n in ast.walk(tree) if isinstance(n, wanted)}
    expected = [e for e in plain if e[0] == "a" or e[2] in ids]
    assert picky == expected and len(expected) > len(ids)


def test_walk_descends_where_a_visitor_ignores_the_node_even_if_the_other_stops():
    tree = ast.parse("def f():\n    g(1)\n")
    log = []
    walk_mod.walk(tree, [_Recorder(log, "a", stop=(ast.FunctionDef,)), _Picky(log, "b", (ast.Call,))])
    assert ("b", "visit", id(tree.body[0].body[0].value)) in log  # b ignores FunctionDef: the walk goes on
    log = []
    walk_mod.walk(tree, [_Recorder(log, "a", stop=(ast.FunctionDef,))])
    assert not any(e[2] == id(tree.body[0].body[0]) for e in log)  # alone, a's False stops it


# -- prefilters ------------------------------------------------------------------


def test_per_word_trigger_patterns_match_where_the_single_patterns_did():
    old7 = re.compile(r"(?:no_grad|enable_grad|inference_mode)\([^()]*\)\s*(?:[;#]|$)", re.M)
    old8 = re.compile(r"(?:no_grad|enable_grad|inference_mode|set_grad_enabled|disable)\s*(?:[;#]|$)|disable\(", re.M)
    old4 = re.compile(r"requires_grad\s*(?:==|!=|\bis\b)|requires_grad_\s*(?:[;#]|$)", re.M)
    hits = {"7": 0, "8": 0, "4": 0}
    for text in _texts():
        for key, rule, old in (("7", GradModeCallDiscarded, old7), ("8", DecoratorNeverApplied, old8), ("4", RequiresGradNoEffect, old4)):
            pattern = rule.trigger_pattern
            new = any(p.search(text) for p in pattern) if isinstance(pattern, tuple) else bool(pattern.search(text))
            assert new == bool(old.search(text)), (rule.code, text[:80])
            hits[key] += new
    assert all(hits.values())  # the texts include matches of every pattern


@pytest.mark.parametrize(
    "text, fires",
    [
        ("model = DDP(model)\nfor p in m.parameters(): p.requires_grad = False\n", True),
        ("model = DDP(model)\nmodel.FREEZE()\n", True),
        ("model = DDP(model)\nprint('naïve')\n", False),  # non-ASCII, nothing folds to ASCII
        ("model = DDP(model)\nmodel.\u017fet_trainable()\n", True),  # a long s: re.I matches it with s
        ("model = DDP(model)\nmake_trainable\u212a\n", True),  # the Kelvin sign elsewhere: the regex decides
        ("model = DDP(model)\nm.Toggle_Grad()  # \u0130\n", True),
        ("model = DDP(model)\nx = 1  # \u0131\n", False),
        ("torch.compile(model)\n", False),
    ],
)
def test_freeze_after_wrap_prefilter_is_the_case_insensitive_search(text, fires):
    old = bool(re.compile(r"requires_grad|freeze|make_trainable|set_trainable|toggle_grad", re.I).search(text))
    old = old and any(t in text for t in FreezeAfterWrap.triggers)
    assert FreezeAfterWrap.might_fire(text) is old is fires


def test_prefilter_memo_answers_for_each_text_not_the_last_one():
    a, b = "x.requires_grad = False", "nothing here"
    assert base.contains(a, "requires_grad") and not base.contains(b, "requires_grad")
    assert base.contains(a, "requires_grad")
    equal = "".join(["nothing", " here"])  # equal to b, another object
    assert not base.contains(equal, "requires_grad") and base.lowered("ABC") == "abc"


# -- FRZ008's next statements ------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES)
def test_next_statements_from_statements_only_match_a_walk_of_every_node(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    expected = {}
    for n in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(n, field, None)
            if isinstance(body, list):
                for x, y in zip(body, body[1:]):
                    expected[id(x)] = y

    class Ctx:
        module = tree

    assert DecoratorNeverApplied(Ctx())._next_statements == expected


def test_next_statements_reach_handlers_and_match_cases():
    tree = ast.parse(
        "try:\n    pass\nexcept E:\n    a\n    b\nmatch x:\n    case 1:\n        c\n        d\n"
    )

    class Ctx:
        module = tree

    nxt = DecoratorNeverApplied(Ctx())._next_statements
    handler_body = tree.body[0].handlers[0].body
    case_body = tree.body[1].cases[0].body
    assert nxt[id(handler_body[0])] is handler_body[1] and nxt[id(case_body[0])] is case_body[1]


# -- the worker pool ---------------------------------------------------------------


def _project(tmp_path, n=24):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    for i in range(n):
        body = "import torch.nn as nn\n\nm = nn.Linear(2, 2)\n"
        if i % 3 == 0:
            body += "m.requires_grad = False\n"  # FRZ001
        if i % 5 == 0:
            body += "for p in m.parameters():\n    p.requires_grad = False\nm.eval()\n"
        if i == 7:
            body = "def f(:\n"  # FRZ000
        if i == 11:
            body = "x = (\n"  # a second file the parser refuses
        (tmp_path / f"mod_{i:02d}.py").write_text(body + "x = 1\n" * (i * 40))
    return tmp_path


def _check(path, jobs):
    from freezelint.config import ConfigResolver
    from freezelint.static.run.checker import CheckRequest, run_check

    res = run_check(CheckRequest(paths=[str(path)], resolver=ConfigResolver(), no_cache=True, jobs=jobs))
    return [(f.path, f.code, f.line, f.col, f.message) for f in res.findings], res.errors, res.files


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the pool needs fork")
def test_pool_finds_what_one_process_finds(tmp_path):
    root = _project(tmp_path)
    one = _check(root, 1)
    two = _check(root, 2)
    assert two == one
    codes = {c for _, c, *_ in one[0]}
    assert {"FRZ000", "FRZ001"} <= codes and one[1] == 2 and one[2] == 24


def test_pool_hands_a_worker_out_of_work_the_file_that_pays_best():
    from freezelint.static.run.pool import AffinityPool

    pool = AffinityPool.__new__(AffinityPool)  # no processes: only the planning
    pool.conns, pool.size, pool.owner = [None, None], {}, {}
    # path -> (seconds its summary took, rules it may trigger)
    pool.spent = {"big": (0.2, 20), "big2": (0.2, 20), "mid": (0.1, 10), "light": (0.1, 0), "small": (0.01, 5)}
    jobs = {p: (p, frozenset(), frozenset(), 1) for p in pool.spent}
    queues = [[], [jobs[p] for p in ("light", "small", "mid", "big2", "big")]]  # ascending cost
    left = [0.0, sum(pool._lint_cost(p) for p in pool.spent)]
    assert [j[0] for j in pool._next_batch(1, queues, left)] == ["big"]  # the owner: its costliest first
    # worker 0 has nothing of its own: of what would end before worker 1's queue does, `mid` has the
    # most lint per parse (`big2` would end after it, `small` pays less, `light` costs more to parse than to lint)
    assert [j[0] for j in pool._next_batch(0, queues, left)] == ["mid"]
    assert jobs["mid"] not in queues[1] and abs(left[1] - sum(pool._lint_cost(j[0]) for j in queues[1])) < 1e-9
    assert [j[0] for j in pool._next_batch(0, queues, left)] == ["small"]
    assert pool._next_batch(0, queues, left) == []  # nothing left that pays: worker 0 stops


@pytest.mark.parametrize("path", FIXTURES[::4])
def test_walk_children_are_every_child_node_but_the_skipped_kinds(path):
    # the fields left out as primitive (`Name.id`, `Constant.value`...) never hold a node
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        expected = [
            c for name, value in ast.iter_fields(node) if name not in walk_mod._SKIP
            for c in (value if isinstance(value, list) else [value]) if isinstance(c, ast.AST)
        ]
        assert sorted(map(id, walk_mod.children(node))) == sorted(map(id, expected))


# -- prefilter words: roots and one-search alternations --------------------------------


def _word_texts():
    out = _texts()
    out += [
        "x.fixed = 1\n", "x.fixed == 1\n", "x .frozen = 1\n", "m.update = f\n", "self.training = False\n", "x.train = 0\n",
        "m.requires_grad = True\n", "m.requires_grad_(True)\n", "zero_grad(set_to_none=False)\n", "grad only\n",
        "trainable\n", "x.trainable = True\n", "unfreeze(m)\n", "self.freeze()\n", "", ".", "train", "grad",
    ]
    return out


def test_prefilter_words_answer_as_a_search_per_word():
    from freezelint.static.rules import load_rules

    rules = load_rules()
    words = sorted({w for r in rules for w in r.triggers})
    fired = 0
    for text in _word_texts():
        text = "".join([text])  # a new object each time: the memo starts afresh
        for w in words:
            assert base.contains(text, w) == (w in text), (w, text[:60])
        for r in rules:
            if r.triggers:
                got = base.contains_any(text, r.triggers)
                assert got == any(w in text for w in r.triggers), (r.code, text[:60])
                fired += got
    assert fired
    # a root found absent decides the longer words without a search; the one-search group is used
    assert "requires_grad" in base._roots_of("requires_grad = True") and "grad" in base._roots_of("zero_grad")
    assert any(rx is not None for rx in base._alternations.values())


# -- FRZ303: statements only, helpers by the reversed text --------------------------------


@pytest.mark.parametrize("path", FIXTURES[::3])
def test_own_statements_are_the_statements_of_own_nodes(path):
    from freezelint.static.flow.grad_masks import own_nodes, own_statements

    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
            want = [id(n) for n, _ in own_nodes(node) if isinstance(n, (ast.stmt, ast.excepthandler, ast.match_case))]
            assert [id(n) for n in own_statements(node)] == want


@pytest.mark.parametrize(
    "text",
    [
        "freeze(m)\n", "freeze (m)\n", "freeze\n(m)\n", "unfreeze(m)\n", "my_freeze(m)\n", "freeze_all(m)\n", "x.freeze(m)\n",
        "(freeze)(m)\n", "freeze", "(", "freezefreeze(m)", "é_freeze(m)", "éfreeze(m)", "freeze_all (x) or freeze(y)",
        "# freeze(m)\n", "def freeze(m):\n", "set_bn_eval(m)", "set_bn_eval_(m)", "xset_bn_eval(m) + set_bn_eval (m)",
    ],
)
def test_helper_test_on_the_reversed_text_is_the_forward_search(text):
    from freezelint.static.semantic.project import ProjectIndex

    index = ProjectIndex(effect_names=frozenset({"freeze", "freeze_all", "set_bn_eval"}))
    names = sorted(index.effect_names, key=len, reverse=True)
    forward = re.compile(r"\b(?:%s)\s*\(" % "|".join(map(re.escape, names)))
    assert index.calls_a_helper(text) == (forward.search(text) is not None)


# -- module names and cache keys below the root, without relpath ----------------------------


def _module_name_reference(path, root):
    rel = os.path.relpath(os.path.abspath(path), root) if root else os.path.basename(path)
    parts = [p for p in os.path.splitext(rel)[0].replace(os.sep, "/").split("/") if p not in ("", ".")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":
        parts.pop(0)
    if any(p == ".." for p in parts):
        parts = [os.path.splitext(os.path.basename(path))[0]]
    return ".".join(parts)


def test_module_names_and_cache_keys_are_what_relpath_gives(tmp_path, monkeypatch):
    from freezelint.static.input.project_root import relative_key
    from freezelint.static.run.cache import Cache
    from freezelint.static.semantic.project import module_name

    monkeypatch.chdir(tmp_path)
    root = str(tmp_path)
    roots = [root, root + "/", root + "/pkg", root + "/./pkg", "/", ".", "pkg", os.path.dirname(root), root + "x"]
    paths = ["a.py", "pkg/m.py", "pkg/__init__.py", "src/pkg/m.py", "../x.py", "/x.py", "pkg/../a.py",
             root + "x/a.py", root + "/pkg//m.py", os.path.dirname(root) + "/other/b.py"]
    for r in roots:
        store = Cache(os.path.join(root, ".freezelint_cache"), r)
        for p in paths:
            assert module_name(p, r) == _module_name_reference(p, r), (p, r)
            for q in (os.path.abspath(p), p if os.path.isabs(p) else None):
                if q is not None:
                    assert store._key(q) == relative_key(q, store.root), (q, r)
