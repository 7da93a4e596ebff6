"""A Hugging Face `Trainer` script as an hpo trial: four added lines (the import, the
`trainer_arguments`, the callback, `resume_from`), and it survives crashes, preemptions and
promotions up the ladder with the metrics of an uninterrupted run.

The model is a small BERT built from a config and the data a synthetic token task, so the
example runs offline in seconds; put your own model and datasets in their place.
"""

from __future__ import annotations

import tempfile

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import hpo
from hpo.integrations.transformers import HpoCallback, resume_from, trainer_arguments, validation

VOCAB, LENGTH = 200, 24


class Tokens(Dataset):
    """Sequences of random tokens; the label says whether the first token is in the top half."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (size, LENGTH), generator=generator)
        self.labels = (self.ids[:, 0] > VOCAB // 2).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


def accuracy(prediction) -> dict[str, float]:
    logits, labels = prediction
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def train(trial: hpo.Trial) -> dict[str, float]:
    torch.manual_seed(trial.seed)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=int(trial.config.get("hidden", 32)),
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=LENGTH + 8,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)
    data_seed = int(trial.config.get("data_seed", 0))
    with tempfile.TemporaryDirectory() as scratch:  # hpo keeps the checkpoints; this is scratch
        args = TrainingArguments(
            output_dir=scratch,
            learning_rate=trial.params["lr"],
            weight_decay=trial.params["weight_decay"],
            per_device_train_batch_size=trial.params["batch_size"],
            per_device_eval_batch_size=64,
            use_cpu=not torch.cuda.is_available(),
            disable_tqdm=True,
            **trainer_arguments(trial),
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=Tokens(512, data_seed),
            eval_dataset=Tokens(128, data_seed + 1),
            compute_metrics=accuracy,
            callbacks=[HpoCallback(trial)],
        )
        trainer.train(resume_from_checkpoint=resume_from(trial))
        return validation(trainer.evaluate())
