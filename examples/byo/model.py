"""The model and data of the bring-your-own example: a plain PyTorch MLP on handwritten digits.

Nothing here knows about hpo: this is the part of a team's code that exists anyway.
The data is scikit-learn's bundled 8x8 digits (1,797 real images, offline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor


@dataclass
class Digits:
    train: Split
    validation: Split
    test: Split


def load_data(seed: int = 0) -> Digits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    n_train, n_val = int(0.7 * len(y)), int(0.15 * len(y))
    return Digits(
        train=Split(x[:n_train], y[:n_train]),
        validation=Split(x[n_train : n_train + n_val], y[n_train : n_train + n_val]),
        test=Split(x[n_train + n_val :], y[n_train + n_val :]),
    )


def build_model(hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )  # fmt: skip


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer {name!r} is not sgd, adam or adamw")


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, schedule, data: Digits, batch_size: int
) -> float:
    """One optimizer step on a random batch (drawn from torch's global generator)."""
    batch = torch.randint(0, len(data.train.y), (batch_size,))
    loss = nn.functional.cross_entropy(model(data.train.x[batch]), data.train.y[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    return float(loss.item())


def cosine(total: int):
    import math

    return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


@torch.no_grad()
def evaluate(model: nn.Module, split: Split) -> dict[str, float]:
    """Our own metrics: the error rate (lower is better) and the negative log-likelihood."""
    model.eval()
    logits = model(split.x)
    errors = (logits.argmax(dim=1) != split.y).float().mean().item()
    nll = nn.functional.cross_entropy(logits, split.y).item()
    model.train()
    return {"error_rate": errors, "nll": nll}
