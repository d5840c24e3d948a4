"""FRZ215's claim and fix against real peft (a tiny Llama, random weights): an adapter loaded with
`PeftModel.from_pretrained` is frozen; with input grads enabled training runs and changes nothing;
`is_trainable=True` makes it train."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


def _config():
    return transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=2)


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = peft.get_peft_model(transformers.LlamaForCausalLM(_config()), peft.LoraConfig(target_modules=["q_proj"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()  # a trained adapter: B is not zero
    path = str(tmp_path_factory.mktemp("adapter"))
    model.save_pretrained(path)
    return path


def _lora_after_one_step(model):
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.tensor([[1, 2, 3, 4]])
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    return {n: torch.equal(v, dict(model.named_parameters())[n]) for n, v in lora.items()}


def test_loaded_without_is_trainable_nothing_requires_grad(adapter_dir):
    model = peft.PeftModel.from_pretrained(transformers.LlamaForCausalLM(_config()), adapter_dir)
    assert not any(p.requires_grad for p in model.parameters())
    ids = torch.tensor([[1, 2, 3, 4]])
    with pytest.raises(RuntimeError, match="does not require grad"):
        model(input_ids=ids, labels=ids).loss.backward()


def test_with_input_grads_it_runs_and_changes_nothing(adapter_dir):
    base = transformers.LlamaForCausalLM(_config())
    base.enable_input_require_grads()  # what prepare_model_for_kbit_training does
    model = peft.PeftModel.from_pretrained(base, adapter_dir)
    unchanged = _lora_after_one_step(model)
    assert unchanged and all(unchanged.values())


def test_is_trainable_true_as_the_fix_writes_it_trains(adapter_dir):
    model = peft.PeftModel.from_pretrained(transformers.LlamaForCausalLM(_config()), adapter_dir, is_trainable=True)
    unchanged = _lora_after_one_step(model)
    assert unchanged and not any(unchanged.values())
