"""The runtime auditor on the static families of issue 20, each run for real on a tiny model:
reentrant checkpointing over frozen inputs, a projector under no_grad, get_peft_model re-freezing a
head named in `trainable=`, gradients zeroed under AdamW's decay, an HF Trainer callback unfreezing
what its optimizer never took. Each has a correct twin."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.checkpoint import checkpoint  # noqa: E402

from conftest import F, objs, trainable  # noqa: E402
from freezelint.runtime import audit_step  # noqa: E402


def _step(model, opt, x, y):
    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def _batch(n=8, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


class Checkpointed(nn.Module):
    """A frozen stem feeding a checkpointed block that holds the only trainable layer (an adapter)."""

    def __init__(self, reentrant):
        super().__init__()
        self.stem = nn.Linear(6, 8)
        self.block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.adapter = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)
        self.reentrant = reentrant

    def _inner(self, h):
        return self.block(h) + self.adapter(h)

    def forward(self, x):
        h = checkpoint(self._inner, self.stem(x), use_reentrant=self.reentrant)
        return self.head(h)


@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")
@pytest.mark.parametrize("reentrant", [True, False])
def test_reentrant_checkpoint_over_frozen_inputs(reentrant):
    model = Checkpointed(reentrant)
    model.stem.requires_grad_(False)
    model.block.requires_grad_(False)
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    report = audit_step(model, opt, _step(model, opt, *_batch()))
    if reentrant:  # the block's input does not require grad: the checkpoint records nothing inside
        assert report.codes == ["FRZ506"]
        assert objs(report, "FRZ506") == ["adapter"]
    else:
        assert report.findings == []


class Tower(nn.Module):
    def __init__(self, projector_under_no_grad):
        super().__init__()
        self.tower = nn.Linear(6, 8)
        self.projector = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)
        self.cut = projector_under_no_grad

    def forward(self, x):
        with torch.no_grad():
            feats = self.tower(x)
            if self.cut:
                feats = self.projector(feats)
        if not self.cut:
            feats = self.projector(feats)
        return self.head(feats)


@pytest.mark.parametrize("cut", [True, False])
def test_projector_under_no_grad(cut):
    model = Tower(cut)
    model.tower.requires_grad_(False)
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    report = audit_step(model, opt, _step(model, opt, *_batch()))
    if cut:
        assert report.codes == ["FRZ506"]
        assert objs(report, "FRZ506") == ["projector"]
    else:
        assert report.findings == []


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(6, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.relu(self.q_proj(x)))


@pytest.mark.parametrize("modules_to_save", [False, True])
def test_get_peft_model_refreezes_a_head_named_trainable(modules_to_save):
    peft = pytest.importorskip("peft")
    base = Classifier()
    base.head.requires_grad_(True)  # meant to train next to the adapters
    config = peft.LoraConfig(r=2, target_modules=["q_proj"], modules_to_save=["head"] if modules_to_save else None)
    model = peft.get_peft_model(base, config)
    opt = torch.optim.AdamW(trainable(model), lr=1e-2)
    head = "base_model.model.head.modules_to_save" if modules_to_save else "base_model.model.head"
    report = audit_step(model, opt, _step(model, opt, *_batch()), trainable=[head])
    if modules_to_save:
        assert report.findings == []
    else:  # get_peft_model froze every base weight, the head included
        assert report.codes == ["FRZ506"]
        assert objs(report, "FRZ506") == ["base_model.model.head"]
        assert "named by `trainable=` but requires_grad=False" in report.findings[0].message


def test_zeroed_grads_under_adamw_decay():
    model = Classifier()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    x, y = _batch()

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for p in model.q_proj.parameters():  # "frozen" by zeroing its gradients
            p.grad.zero_()
        opt.step()

    report = audit_step(model, opt, step, frozen=["q_proj"])
    # one cause, named once: it was never frozen (requires_grad=True), so the decay moving it is not a second finding
    assert report.codes == ["FRZ504"]
    assert objs(report, "FRZ504") == ["q_proj"]


def test_a_real_freeze_under_adamw_decay_is_not_reported():
    model = Classifier()
    model.q_proj.requires_grad_(False)
    opt = torch.optim.AdamW(trainable(model), lr=1e-2, weight_decay=0.1)
    report = audit_step(model, opt, _step(model, opt, *_batch()), frozen=["q_proj"])
    assert report.findings == []


class _Words(torch.utils.data.Dataset):
    def __init__(self, n=8):
        self.ids = torch.randint(0, 64, (n, 8), generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


@pytest.mark.parametrize("freeze_in", ["script", "on_init_end", "on_train_begin", "on_init_end+add_param_group"])
def test_hf_trainer_unfreeze_in_a_callback(tmp_path, freeze_in, monkeypatch):
    """The Trainer builds its optimizer after `on_init_end` and before `on_train_begin` (lifecycle/hf_versions.py).
    From transformers 4.26 it holds only what required grad then: a block frozen by the script or in `on_init_end`
    and unfrozen at epoch 1 is in no group (FRZ505, static FRZ203); frozen in `on_train_begin`, it is held, and
    unfreezing it trains it. Adding it with `add_param_group` in a hook breaks the Trainer's LR scheduler (torch 2.13)."""
    transformers = pytest.importorskip("transformers")
    from freezelint.integrations.transformers import FreezeAuditCallback

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers.logging.set_verbosity_error()
    if tuple(int(x) for x in transformers.__version__.split(".")[:2]) < (4, 26):
        pytest.skip("before transformers 4.26 the Trainer's optimizer holds every parameter")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg)
    block = model.transformer.h[0]
    seen = {}

    class GradualUnfreeze(transformers.TrainerCallback):
        def on_init_end(self, args, state, control, model=None, optimizer=None, **kwargs):
            seen["on_init_end"] = optimizer
            if freeze_in.startswith("on_init_end"):
                block.requires_grad_(False)

        def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
            seen["on_train_begin"] = optimizer
            if freeze_in == "on_train_begin":
                block.requires_grad_(False)

        def on_epoch_begin(self, args, state, control, optimizer=None, **kwargs):
            if state.epoch == 1:
                block.requires_grad_(True)
                if freeze_in.endswith("add_param_group"):
                    optimizer.add_param_group({"params": list(block.parameters())})

    if freeze_in == "script":
        block.requires_grad_(False)
    audit = FreezeAuditCallback(every_n_steps=1, fail_on=None)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=8, learning_rate=1e-2,
        report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True,
    )
    before = block.mlp.c_fc.weight.detach().clone()
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_Words(), callbacks=[GradualUnfreeze(), audit])
    if freeze_in.endswith("add_param_group"):  # FRZ203's message: the Trainer's LR scheduler has the old groups
        with pytest.raises(ValueError, match="zip"):
            trainer.train()
        return
    trainer.train()
    assert seen["on_init_end"] is None and seen["on_train_begin"] is not None
    held = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    first, second = audit.reports  # one step per epoch
    if freeze_in == "on_train_begin":
        assert id(block.mlp.c_fc.weight) in held and not torch.equal(before, block.mlp.c_fc.weight.detach())
        assert second.findings == []
    else:
        assert id(block.mlp.c_fc.weight) not in held and torch.equal(before, block.mlp.c_fc.weight.detach())
        assert second.codes == ["FRZ505"] and objs(second, "FRZ505") == ["transformer.h.0"]
    assert "FRZ505" not in first.codes
