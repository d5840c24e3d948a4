"""HF `Trainer.train()` on a tiny BERT built from a config (random weights, no download).
`mistake`: `eval()` written as the freeze of the embeddings. `correct`: `requires_grad_(False)`."""
import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)
config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
model = BertForSequenceClassification(config)
model.bert.embeddings.eval()  # freeze the embeddings  # variant: mistake
model.bert.embeddings.requires_grad_(False)  # variant: correct
data = [{"input_ids": torch.randint(0, 64, (8,)), "labels": torch.tensor(i % 2)} for i in range(16)]
with tempfile.TemporaryDirectory() as out:
    args = TrainingArguments(
        output_dir=out, max_steps=3, per_device_train_batch_size=4, report_to=[], use_cpu=True,
        save_strategy="no", logging_strategy="no", disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=data).train()
print("script finished")
