"""A Lightning script as an hpo trial: the import, `trainer_arguments`, the callback and
`resume_from` are the added lines, and it survives crashes, preemptions and promotions up the
ladder with the metrics of an uninterrupted run.

The data loader is torchdata's `StatefulDataLoader`, a drop-in `DataLoader` that Lightning
checkpoints mid-epoch, so a resumed trial sees the rest of the epoch in the same order. The
model is a small MLP on a synthetic task so the example runs offline in seconds; put your own
`LightningModule` and data in their place.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import TensorDataset
from torchdata.stateful_dataloader import StatefulDataLoader

import hpo
from hpo.integrations.lightning import HpoCallback, resume_from, trainer_arguments, validation


def synthetic(rows: int, features: int, seed: int) -> TensorDataset:
    """Points labelled by a fixed random hyperplane, with some label noise."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, features, generator=generator)
    w = torch.randn(features, generator=torch.Generator().manual_seed(12345))
    noisy = torch.rand(rows, generator=generator) < 0.1
    y = ((x @ w > 0) ^ noisy).long()
    return TensorDataset(x, y)


class Classifier(L.LightningModule):
    def __init__(self, features: int, hidden: int, dropout: float, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 2)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))
        self.log("val_accuracy", (logits.argmax(-1) == y).float().mean())

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        # The schedule spans the trial's whole budget (trainer_arguments sets max_steps).
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.hparams.lr, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def train(trial: hpo.Trial) -> dict[str, float]:
    torch.manual_seed(trial.seed)
    rows = int(trial.config.get("rows", 4000))
    features = int(trial.config.get("features", 16))
    data_seed = int(trial.config.get("data_seed", 0))
    model = Classifier(
        features,
        hidden=int(trial.params.get("hidden", 64)),
        dropout=float(trial.params.get("dropout", 0.1)),
        lr=trial.params["lr"],
        weight_decay=trial.params.get("weight_decay", 0.0),
    )
    batches = StatefulDataLoader(
        synthetic(rows, features, data_seed), batch_size=int(trial.params.get("batch_size", 32)), shuffle=True
    )
    held_out = StatefulDataLoader(synthetic(rows // 4, features, data_seed + 1), batch_size=256)
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[HpoCallback(trial)],
        **trainer_arguments(trial),
    )
    trainer.fit(model, batches, held_out, ckpt_path=resume_from(trial))
    return validation(trainer.validate(model, held_out, verbose=False)[0], prefix="val_")
