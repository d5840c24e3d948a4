"""FRZ213's claim about new tokens and its advice, against real peft and a tiny Llama (random weights):
`get_peft_model` freezes resized embeddings, and `modules_to_save=["embed_tokens", "lm_head"]` or
`trainable_token_indices` keeps the new rows training."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


def _resized_llama():
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.resize_token_embeddings(66)  # two new tokens
    return model


def _new_rows_move(model) -> bool:
    before = model.get_input_embeddings().weight[64:].detach().clone()
    out_before = model.get_output_embeddings().weight[64:].detach().clone()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1.0)
    ids = torch.tensor([[1, 64, 65, 2]])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    after = model.get_input_embeddings().weight[64:]
    out_after = model.get_output_embeddings().weight[64:]
    return not torch.equal(before, after) and not torch.equal(out_before, out_after)


def test_lora_alone_freezes_the_new_rows():
    model = peft.get_peft_model(_resized_llama(), peft.LoraConfig(target_modules=["q_proj", "v_proj"]))
    assert not _new_rows_move(model)


def test_modules_to_save_keeps_them_training():
    config = peft.LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["embed_tokens", "lm_head"])
    assert _new_rows_move(peft.get_peft_model(_resized_llama(), config))


def test_trainable_token_indices_trains_the_new_input_rows():
    config = peft.LoraConfig(target_modules=["q_proj", "v_proj"], trainable_token_indices=[64, 65])
    model = peft.get_peft_model(_resized_llama(), config)
    emb = model.get_input_embeddings()
    before = emb(torch.tensor([64, 65])).detach().clone()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1.0)
    ids = torch.tensor([[1, 64, 65, 2]])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    assert not torch.equal(before, emb(torch.tensor([64, 65])))
