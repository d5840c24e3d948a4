"""Unit tests of the flow timelines the FRZ1xx/FRZ2xx/FRZ3xx rules query."""

import ast
import textwrap

import pytest

from freezelint.static.flow import timeline as flow
from freezelint.static.flow import file_flow as flow_file
from freezelint.static.parse.astutil import SourceText
from freezelint.static.semantic.facts import FileFacts


def parsed(src):
    text = textwrap.dedent(src)
    module = ast.parse(text)
    return module, FileFacts(module, SourceText(text))


def timelines(src):
    module, facts = parsed(src)
    ff = flow_file.file_flow(facts)
    out = {None: ff.timeline(module)}
    for name, defs in facts.functions.items():
        out[name] = ff.timeline(defs[0])
    return out, facts


def kinds(tl, *only):
    return [(e.kind, e.target) for e in tl.events if not only or e.kind in only]


# --- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, inside, overlap",
    [
        ("model.backbone", "model", True, True),
        ("model", "model.backbone", False, True),
        ("model.backbone", "model.head", False, False),
        ("model.layer1", "model.layer10", False, False),
        ("model.*", "model.fc", False, True),
        ("model.fc", "model.*", True, True),
        ("self.encoder", "encoder", False, False),
    ],
)
def test_path_relations(a, b, inside, overlap):
    assert flow.inside(a, b) is inside
    assert flow.overlap(a, b) is overlap


def test_root_keeps_the_attribute_after_self():
    assert flow.root("self.model.head") == "self.model"
    assert flow.root("model.head") == "model"


# --- events ----------------------------------------------------------------------------


def test_freeze_forms_and_their_targets():
    tls, _ = timelines(
        """
        import torch
        def f(model):
            model.backbone.requires_grad_(False)
            for p in model.head.parameters():
                p.requires_grad = False
            for name, p in model.named_parameters():
                if "bias" in name:
                    p.requires_grad = True
            [q.requires_grad_(False) for q in model.neck.parameters()]
            model.stem.weight.requires_grad = False
        """
    )
    tl = tls["f"]
    assert kinds(tl, flow.FREEZE, flow.UNFREEZE) == [
        (flow.FREEZE, "model.backbone"),
        (flow.FREEZE, "model.head"),
        (flow.UNFREEZE, "model"),
        (flow.FREEZE, "model.neck"),
        (flow.FREEZE, "model.stem.weight"),
    ]
    wholes = [e.whole for e in tl.of(flow.FREEZE, flow.UNFREEZE)]
    assert wholes == [True, True, False, True, True]
    named = tl.of(flow.UNFREEZE)[0]
    assert named.name_var == "name" and named.maybe


def test_requires_grad_attribute_on_a_module_is_not_a_freeze():
    tls, _ = timelines(
        """
        import torch.nn as nn
        def f():
            model = nn.Linear(2, 2)
            model.requires_grad = False
        """
    )
    assert tls["f"].of(flow.FREEZE) == []


def test_optimizer_over_forms():
    tls, _ = timelines(
        """
        import torch
        def f(model):
            a = torch.optim.SGD(model.parameters(), lr=0.1)
            b = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
            c = torch.optim.AdamW([p for n, p in model.named_parameters() if "head" in n])
            d = torch.optim.AdamW([{"params": model.head.parameters()}, {"params": model.neck.parameters(), "lr": 1e-4}])
            params = [p for p in model.parameters() if p.requires_grad]
            e = torch.optim.Adam(params)
            g = torch.optim.Adam(some_helper(model))
        """
    )
    opts = tls["f"].of(flow.OPT)
    assert [o.name for o in opts] == ["a", "b", "c", "d", "e", "g"]
    assert [o.over for o in opts] == [
        (("model", flow.ALL),),
        (("model", flow.FILTER),),
        (("model", flow.SUBSET),),
        (("model.head", flow.ALL), ("model.neck", flow.ALL)),
        (("model", flow.FILTER),),
        (),
    ]


def test_wrap_records_the_model_and_the_new_names():
    tls, _ = timelines(
        """
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP
        def f(model, opt, loader, accelerator):
            ddp = DDP(model, device_ids=[0])
            compiled = torch.compile(ddp.module)
            model, opt, loader = accelerator.prepare(model, opt, loader)
            model.requires_grad_(False)
        """
    )
    wraps = tls["f"].of(flow.WRAP)
    assert [(w.name, w.names) for w in wraps] == [
        ("DistributedDataParallel", ("model", "ddp")),
        ("torch.compile", ("ddp", "compiled")),
        ("accelerator.prepare", ("model", "opt", "loader", "model", "opt", "loader")),
    ]


def test_modes_steps_and_grad_blocks():
    tls, _ = timelines(
        """
        import torch
        def f(model, x, optimizer, scaler):
            model.backbone.eval()
            model.train()
            model.head.train(False)
            with torch.no_grad():
                y = model(x)
                with torch.enable_grad():
                    z = model(x)
            scaler.scale(z.sum()).backward()
            scaler.step(optimizer)
            optimizer.zero_grad(set_to_none=False)
            torch.set_grad_enabled(False)
        """
    )
    tl = tls["f"]
    assert kinds(tl, flow.EVAL, flow.TRAIN) == [
        (flow.EVAL, "model.backbone"),
        (flow.TRAIN, "model"),
        (flow.EVAL, "model.head"),
    ]
    assert tl.assigned == {"y": [True], "z": [False]}
    (b,) = tl.of(flow.BACKWARD)
    assert isinstance(b.value, ast.Call) and b.grad is None
    assert [s.name for s in tl.of(flow.STEP)] == ["optimizer"]
    assert [z.mode for z in tl.of(flow.ZERO_GRAD)] == [False]
    assert len(tl.of(flow.GRAD_OFF)) == 1


def test_no_grad_decorator_covers_the_body():
    tls, _ = timelines(
        """
        import torch
        @torch.no_grad()
        def update(teacher, student):
            out = teacher(student)
            out.backward()
        """
    )
    (b,) = tls["update"].of(flow.BACKWARD)
    assert b.grad == "no_grad"
    assert tls["update"].assigned == {"out": [True]}


def test_head_replacement_needs_a_module_with_parameters():
    tls, _ = timelines(
        """
        import torch.nn as nn
        import torchvision
        def f():
            model = torchvision.models.resnet18()
            model.fc = nn.Linear(512, 10)
            model.avgpool = nn.Identity()
            model.name = "resnet"
            model.requires_grad_(False)
        """
    )
    assert kinds(tls["f"], flow.HEAD) == [(flow.HEAD, "model.fc")]


# --- loops, branches, aliases ------------------------------------------------------------


def test_loops_repeat_and_branches_are_maybe():
    tls, _ = timelines(
        """
        def f(model, loader, epochs):
            model.stem.requires_grad_(False)
            for epoch in range(epochs):
                if epoch == 3:
                    model.layer1.requires_grad_(False)
                for x in loader:
                    model(x).sum().backward()
        """
    )
    stem, layer1 = tls["f"].of(flow.FREEZE)
    (b,) = tls["f"].of(flow.BACKWARD)
    assert stem.loops == () and not stem.maybe
    assert len(layer1.loops) == 1 and layer1.maybe
    assert len(b.loops) == 2 and b.loops[0] == layer1.loops[0]
    assert stem.index < layer1.index < b.index


def test_module_loop_variables_stand_for_some_submodule():
    tls, _ = timelines(
        """
        import torch.nn as nn
        def f(model):
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
                    for p in m.parameters():
                        p.requires_grad = False
        """
    )
    assert kinds(tls["f"], flow.EVAL, flow.FREEZE) == [(flow.EVAL, "model.*"), (flow.FREEZE, "model.*")]


def test_aliases_and_wrapper_segments_resolve_to_the_same_path():
    tls, _ = timelines(
        """
        def f(model):
            backbone = model.backbone
            backbone.requires_grad_(False)
            model.module.head.requires_grad_(False)
            model._orig_mod.neck.requires_grad_(False)
        """
    )
    assert [e.target for e in tls["f"].of(flow.FREEZE)] == ["model.backbone", "model.head", "model.neck"]


# --- helpers followed one level ---------------------------------------------------------------


def test_same_file_helper_events_appear_at_the_call_site():
    tls, _ = timelines(
        """
        import torch
        def freeze_backbone(net):
            for p in net.backbone.parameters():
                p.requires_grad = False
        def build(net):
            return torch.optim.SGD(net.parameters(), lr=0.1)
        def main(model):
            opt = build(model)
            freeze_backbone(model)
        """
    )
    tl = tls["main"]
    opt, freeze = tl.of(flow.OPT, flow.FREEZE)
    assert (opt.kind, opt.name, opt.over, opt.via) == (flow.OPT, "opt", (("model", flow.ALL),), "build")
    assert (freeze.target, freeze.via) == ("model.backbone", "freeze_backbone")
    assert isinstance(freeze.node, ast.Call)  # reported at the call


def test_helpers_are_followed_only_one_level():
    tls, _ = timelines(
        """
        def inner(m):
            m.requires_grad_(False)
        def middle(m):
            inner(m)
        def outer(model):
            middle(model)
        """
    )
    assert kinds(tls["middle"], flow.FREEZE) == [(flow.FREEZE, "m")]
    assert kinds(tls["outer"], flow.FREEZE) == []


def test_methods_on_self_are_followed():
    tls, _ = timelines(
        """
        import torch.nn as nn
        class Net(nn.Module):
            def freeze_encoder(self):
                self.encoder.requires_grad_(False)
            def setup(self):
                self.freeze_encoder()
        """
    )
    assert kinds(tls["setup"], flow.FREEZE) == [(flow.FREEZE, "self.encoder")]


def test_lightning_finetuning_calls():
    tls, _ = timelines(
        """
        from pytorch_lightning.callbacks import BaseFinetuning
        class Unfreeze(BaseFinetuning):
            def freeze_before_training(self, pl_module):
                self.freeze(pl_module.backbone)
            def finetune_function(self, pl_module, epoch, optimizer):
                self.unfreeze_and_add_param_group(modules=pl_module.backbone, optimizer=optimizer)
        """
    )
    assert kinds(tls["freeze_before_training"], flow.FREEZE) == [(flow.FREEZE, "pl_module.backbone")]
    tl = tls["finetune_function"]
    assert kinds(tl, flow.UNFREEZE, flow.ADD_GROUP) == [(flow.UNFREEZE, "pl_module.backbone"), (flow.ADD_GROUP, None)]


def test_nested_functions_have_their_own_timeline():
    tls, _ = timelines(
        """
        def outer(model):
            def inner():
                model.requires_grad_(False)
            model.eval()
        """
    )
    assert kinds(tls["outer"], flow.FREEZE, flow.EVAL) == [(flow.EVAL, "model")]
    assert kinds(tls["inner"], flow.FREEZE) == [(flow.FREEZE, "model")]


def test_timelines_are_cached_per_scope():
    _, facts = parsed("def f(m):\n    m.eval()\n")
    node = facts.functions["f"][0]
    assert flow_file.timeline(facts, node) is flow_file.timeline(facts, node)


def test_scopes_without_freeze_words_get_an_empty_timeline():
    tls, _ = timelines(
        """
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP
        def wrap_only(model):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            return DDP(model), opt
        def freezes(model):
            model.requires_grad_(False)
        """
    )
    assert tls["wrap_only"].events == []  # no rule asks about a flow with no freeze/mode/backward word
    assert kinds(tls["freezes"]) == [(flow.FREEZE, "model")]


def test_gradient_tensors_are_not_parameters():
    tls, _ = timelines(
        """
        def f(net):
            grad = net.module.weight.grad
            grad.requires_grad_(False)
            net.weight.data.requires_grad = False
        """
    )
    assert tls["f"].of(flow.FREEZE) == []


def test_unknown_freeze_methods_are_freezes_of_unknown_targets():
    tls, _ = timelines(
        """
        def f(model):
            model.freeze_feature_encoder()
            model.eval()
        """
    )
    (freeze,) = tls["f"].of(flow.FREEZE)
    assert freeze.target is None  # rules that need a target stay silent; FRZ101 treats it as a freeze


def test_the_gate_opens_for_calls_of_helpers_that_matter():
    tls, _ = timelines(
        """
        import torch
        def build(net):
            return torch.optim.SGD(net.parameters(), lr=0.1)
        def run(net, opt, loader):
            for x in loader:
                net(x).sum().backward()
                opt.step()
        def log(msg):
            print(msg)
        def main(model, loader):
            opt = build(model)
            run(model, opt, loader)
        def report(model):
            log(model)
        """
    )
    assert [e.kind for e in tls["main"].events if e.kind in (flow.OPT, flow.BACKWARD, flow.STEP)] == [
        flow.OPT, flow.BACKWARD, flow.STEP,
    ]
    assert tls["report"].events == []


def test_if_else_arms_are_exclusive_in_orderings():
    tls, _ = timelines(
        """
        from torch.nn.parallel import DistributedDataParallel as DDP
        def f(model, distributed, mode):
            if distributed:
                model = DDP(model)
            elif mode == "probe":
                model.backbone.requires_grad_(False)
            else:
                model.head.requires_grad_(False)
            model.neck.requires_grad_(False)
        """
    )
    tl = tls["f"]
    wrap = tl.of(flow.WRAP)[0]
    backbone, head, neck = tl.of(flow.FREEZE)
    assert flow.exclusive(wrap, backbone) and flow.exclusive(wrap, head) and flow.exclusive(backbone, head)
    assert not flow.exclusive(wrap, neck)
    assert tl.after(wrap, flow.FREEZE) == [neck]
    assert tl.before(head, flow.WRAP, flow.FREEZE) == []


def test_an_arm_that_returns_is_apart_from_what_follows_the_if():
    tls, _ = timelines(
        """
        from torch.nn.parallel import DistributedDataParallel as DDP
        def f(model, distributed):
            if distributed:
                model = DDP(model)
                model.head.requires_grad_(False)
                return model
            model.backbone.requires_grad_(False)
            return model
        """
    )
    tl = tls["f"]
    wrap = tl.of(flow.WRAP)[0]
    head, backbone = tl.of(flow.FREEZE)
    assert tl.after(wrap, flow.FREEZE) == [head]
    assert tl.apart(wrap, backbone) and not tl.apart(wrap, head)


def test_deepspeed_takes_the_model_positionally_or_by_keyword():
    tls, _ = timelines(
        """
        import deepspeed
        def f(args, model, net):
            engine, opt, _, _ = deepspeed.initialize(args, model)
            engine2, *_ = deepspeed.initialize(args=args, model=net)
            model.requires_grad_(False)
        """
    )
    assert [w.names[0] for w in tls["f"].of(flow.WRAP)] == ["model", "net"]


def test_frz201_is_an_error_only_when_zero_filled_grads_or_a_mid_step_freeze_make_it_worse():
    from freezelint.findings import Severity
    from freezelint.static.run import engine
    from freezelint.static.rules import load_rules

    rules = [r for r in load_rules() if r.code == "FRZ201"]
    base = (
        "import torch\nimport torch.nn as nn\n\n"
        "def train(model: nn.Module, batches):\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "    for x in batches:\n"
        "        loss = model(x).sum()\n"
        "        loss.backward()\n"
        "{between}"
        "        opt.step()\n"
        "        opt.zero_grad(set_to_none={none})\n"
        "    model.backbone.requires_grad_(False)\n"
    )
    plain = engine.lint_text("t.py", base.format(between="", none="True"), rules)
    worse = engine.lint_text("t.py", base.format(between="", none="False"), rules)
    assert [f.severity for f in plain] == [Severity.WARNING]
    assert [f.severity for f in worse] == [Severity.ERROR]


def test_a_lambda_scope_has_an_empty_timeline():
    # FRZ105 asks for the timeline of the scope it is in, which can be a lambda
    module, facts = parsed("f = lambda loss: loss.backward()\n")
    lam = module.body[0].value
    assert flow_file.timeline(facts, lam).events == []


ELIF = """
def f(model, a, b):
    if a:
        model.head.requires_grad_(False)
    elif b:
        model.neck.requires_grad_(False)
    else:
        model.tail.requires_grad_(False)
    model.stem.requires_grad_(False)
"""
ELSE_IF = """
def f(model, a, b):
    if a:
        model.head.requires_grad_(False)
    else:
        if b:
            model.neck.requires_grad_(False)
        else:
            model.tail.requires_grad_(False)
    model.stem.requires_grad_(False)
"""


@pytest.mark.parametrize("with_source", [True, False])
@pytest.mark.parametrize("src", [ELIF, ELSE_IF], ids=["elif", "else-if"])
def test_elif_and_else_if_arms_are_exclusive(with_source, src):
    # ast spells `elif b:` and `else:` + `if b:` alike (an If alone in `orelse`)
    module = ast.parse(src)
    facts = FileFacts(module, SourceText(src) if with_source else None)
    head, neck, tail, stem = flow_file.timeline(facts, facts.functions["f"][0]).of(flow.FREEZE)
    assert flow.exclusive(head, neck) and flow.exclusive(head, tail) and flow.exclusive(neck, tail)
    assert stem.branches == () and not any(flow.exclusive(e, stem) for e in (head, neck, tail))


def test_an_assignments_own_events_come_before_those_of_its_value():
    tls, _ = timelines(
        """
        import torch
        def f(model):
            model.backbone.fc = torch.nn.Linear(model.backbone.fc.in_features, 2).requires_grad_(model.eval())
        """
    )
    # the head replacement (the assignment's own event) first; then the inner call, then the outer one
    assert [(e.kind, e.target) for e in tls["f"].events if e.kind in (flow.HEAD, flow.EVAL, flow.UNFREEZE)] == [
        (flow.HEAD, "model.backbone.fc"), (flow.EVAL, "model"),
    ]


@pytest.mark.parametrize("chain", ["elif", "else_if"])
def test_every_arm_of_an_if_chain_excludes_the_others(chain):
    arms = (
        "    elif b:\n        model.b.requires_grad_(False)\n"
        if chain == "elif"
        else "    else:\n        if b:\n            model.b.requires_grad_(False)\n"
    )
    tail = "    else:\n        model.c.requires_grad_(False)\n" if chain == "elif" else "        else:\n            model.c.requires_grad_(False)\n"
    src = "def f(model, a, b):\n    if a:\n        model.a.requires_grad_(False)\n" + arms + tail + "    model.d.requires_grad_(False)\n"
    tls, _ = timelines(src)
    ev = {e.target: e for e in tls["f"].events if e.kind == flow.FREEZE}
    for x, y in [("model.a", "model.b"), ("model.a", "model.c"), ("model.b", "model.c")]:
        assert flow.exclusive(ev[x], ev[y]) and flow.exclusive(ev[y], ev[x])
    assert not any(flow.exclusive(ev["model.d"], ev[x]) for x in ("model.a", "model.b", "model.c"))
