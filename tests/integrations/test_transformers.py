"""FreezeAuditCallback in a real HF `Trainer.train`, and PEFT models (CPU, tiny GPT-2 from a config)."""

import os

# No downloads, no telemetry: every model here is built from a config.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import logging

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

from freezelint.integrations.transformers import FreezeAuditCallback  # noqa: E402
from freezelint.runtime import FreezeAuditError, audit_step  # noqa: E402

transformers.logging.set_verbosity_error()


def tiny_gpt2(n_layer=2):
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=n_layer, n_head=2,
                     bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(cfg)


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n=16):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 64, (n, 8), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def train(model, callback, tmp_path, **kw):
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=kw.pop("max_steps", 2), per_device_train_batch_size=4,
        learning_rate=1e-3, report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True,
        use_cpu=True, dataloader_num_workers=0, **kw,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Tokens(), callbacks=[callback])
    trainer.train()
    return trainer


def freeze_bottom(model):
    model.transformer.wte.requires_grad_(False)  # ties lm_head too
    model.transformer.wpe.requires_grad_(False)
    model.transformer.h[0].requires_grad_(False)


def test_trainer_correct_freeze_passes_with_its_accelerated_optimizer(tmp_path):
    model = tiny_gpt2()
    freeze_bottom(model)
    cb = FreezeAuditCallback(frozen=["transformer.wte", "transformer.wpe", "transformer.h.0"])
    train(model, cb, tmp_path)
    (report,) = cb.reports  # audit_step with AcceleratedOptimizer raised AttributeError before
    assert report.findings == []
    assert report.optimizer_row.names == "AdamW"


def test_trainer_mistake_raises_out_of_train(tmp_path):
    model = tiny_gpt2()
    model.transformer.h[0].requires_grad = False  # FRZ001: a plain attribute
    cb = FreezeAuditCallback(frozen=["transformer.h.0"])
    with pytest.raises(FreezeAuditError, match=r"transformer\.h\.0: FRZ504"):
        train(model, cb, tmp_path)


def test_trainer_log_mode_and_gradient_accumulation(tmp_path, caplog):
    model = tiny_gpt2()
    model.transformer.h[0].requires_grad = False
    cb = FreezeAuditCallback(frozen=["transformer.h.0"], on_failure="log")
    with caplog.at_level(logging.WARNING, logger="freezelint"):
        trainer = train(model, cb, tmp_path, gradient_accumulation_steps=2, max_steps=2)
    assert trainer.state.global_step == 2
    assert cb.reports[0].codes == ["FRZ504"]  # and no FRZ507 from a micro-batch without a step
    assert any("FRZ504" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ PEFT
peft = pytest.importorskip("peft")


def lora(n_layer=4):
    cfg = peft.LoraConfig(r=2, target_modules=["c_attn"], lora_dropout=0.0, fan_in_fan_out=True)
    return peft.get_peft_model(tiny_gpt2(n_layer), cfg)


def lm_step(model, opt):
    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))

    def step():
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()

    return step


def test_lora_first_step_and_selectors_as_users_write_them():
    model = lora()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    # names inside PEFT: no `base_model.model.`, no `base_layer.`
    report = audit_step(model, opt, lm_step(model, opt),
                        frozen=["transformer.wte", "transformer.h.0.attn.c_attn.weight"], trainable=["*.lora_B"])
    # step 1: lora_B starts at zero, so lora_A's gradient is zero: not "dead units" (FRZ507)
    assert report.findings == []


def test_peft_typo_gets_did_you_mean():
    model = lora()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    report = audit_step(model, opt, lm_step(model, opt), frozen=["transformer.h.0.atn"])
    (f,) = report.findings
    assert f.code == "FRZ510" and "did you mean 'transformer.h.0.attn'?" in f.message


def test_lora_adapters_missing_from_the_optimizer_are_one_finding():
    model = lora(n_layer=4)
    opt = torch.optim.AdamW([p for n, p in model.named_parameters() if "lora_A" in n], lr=1e-3)
    report = audit_step(model, opt, lm_step(model, opt))
    (f,) = report.by_code("FRZ505")  # was one FRZ505 per adapter
    assert f.obj == "base_model.model.transformer.h" and "(4 parameters in 4 modules" in f.message
    assert len(dict(f.extra)["objects"]) == 4


def test_peft_summary_shows_the_models_parts():
    model = lora(n_layer=2)
    report = audit_step(model, None, lambda: None)
    names = [r.name for r in report.rows]
    assert names == [f"base_model.model.transformer.{n}" for n in ("wte", "wpe", "h", "ln_f")]
    assert report.summary().splitlines()[-1].startswith("trainable params: 256 ||")


def test_trainer_with_a_peft_model(tmp_path):
    model = lora(n_layer=2)
    cb = FreezeAuditCallback(frozen=["transformer"], trainable=["*.lora_A", "*.lora_B"])
    train(model, cb, tmp_path)
    assert cb.reports[0].findings == []
