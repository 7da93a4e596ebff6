"""A Lightning script as a durable hpo trial, in a few added lines.

    from hpo.integrations.lightning import HpoCallback, resume_from, trainer_arguments, validation
    from torchdata.stateful_dataloader import StatefulDataLoader  # a resumable data order

    def train(trial: hpo.Trial) -> dict[str, float]:
        trainer = L.Trainer(callbacks=[HpoCallback(trial)], **trainer_arguments(trial))
        trainer.fit(model, train_loader, val_loader, ckpt_path=resume_from(trial))
        return validation(trainer.validate(model, val_loader, verbose=False)[0])

What it does:
- the Trainer's `max_steps` (or `max_epochs`) is the trial's whole budget, so schedules built
  from `trainer.estimated_stepping_batches` span it; the segment stops at its rung's step
  (`trial.target_step`), so a promoted trial continues the same schedule;
- checkpoints are Lightning's own (`trainer.save_checkpoint`: model, optimizers, schedulers,
  loops, callbacks, and the data loader's position when it is resumable), written every
  `training.checkpoint_every` steps, at the rung's end and when the trial must stop, and
  handed back to `trainer.fit(..., ckpt_path=...)` after a crash, a preemption or a promotion;
- each step's random draws (dropout, noise) are seeded from the trial's seed and the step, so
  a resumed step draws what the uninterrupted one drew;
- logged metrics go to the trial's learning curve (`trial.report`);
- `trial.should_stop()` (a stop, a budget, a preemption, the spec's pruner) ends training
  after a checkpoint.

Exact resumption mid-epoch needs a data loader that can say where it is: torchdata's
`StatefulDataLoader` (a drop-in `DataLoader`), or any loader with `state_dict` /
`load_state_dict`. A plain `DataLoader` resumes at the start of its epoch's order, which
Lightning warns about; checkpoints at epoch ends (`checkpoint_every` a multiple of the epoch's
batches) avoid it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback

from hpo.integrations.numbers import finite_number
from hpo.trial import Trial

CHECKPOINT_FILE = "lightning.ckpt"
DEFAULT_EVERY = 500


def trainer_arguments(trial: Trial) -> dict[str, Any]:
    """`lightning.Trainer` fields for this trial: the whole budget, hpo's checkpoints in place
    of Lightning's default `ModelCheckpoint` (which would write into the working folder)."""
    if trial.max_steps is not None:
        budget: dict[str, Any] = {"max_steps": trial.max_steps}
    elif trial.epochs is not None and float(trial.epochs).is_integer():
        budget = {"max_epochs": int(trial.epochs)}
    else:
        raise ValueError(
            f"trial {trial.trial_id}: training.epochs is {trial.epochs}; Lightning counts whole epochs: "
            "set training.epochs to a whole number, or training.max_steps"
        )
    return {**budget, "enable_checkpointing": False}


def resume_from(trial: Trial) -> str | None:
    """The Lightning checkpoint this segment starts from (`trainer.fit(..., ckpt_path=...)`),
    None on a fresh start."""
    restored = trial.restored_dir()
    if restored is None:
        return None
    path = restored / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(
            f"trial {trial.trial_id}: its checkpoint at step {trial.start_step} holds no {CHECKPOINT_FILE}; "
            "it was not written by hpo.integrations.lightning (did the training code change mid-sweep?)"
        )
    return str(path)


def validation(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Lightning's metrics (`trainer.validate(...)[0]` or `trainer.callback_metrics`) as the
    trial's validation metrics: scalars as floats, `prefix` taken off the names (`val_` makes
    `val_accuracy` the spec's `accuracy`), anything else left out."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        number = _scalar(value)
        if number is not None:
            out[name.removeprefix(prefix)] = number
    return out


class HpoCallback(Callback):  # type: ignore[misc]
    """Reports to the trial, checkpoints through hpo, stops at the rung's step or when asked."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.every = trial.checkpoint_every or DEFAULT_EVERY

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        _seed_step(self.trial.seed, trainer.global_step)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step <= 0:  # still accumulating gradients towards the first optimizer step
            return
        if step % max(1, trainer.log_every_n_steps) == 0:
            self._report(step, trainer.callback_metrics)
        target = self.trial.target_step
        stop = (target is not None and step >= target) or self.trial.should_stop()
        if (stop or step % self.every == 0) and step != self.trial.saved_step:
            with self.trial.checkpoint_dir(step) as directory:
                trainer.save_checkpoint(Path(directory) / CHECKPOINT_FILE)
        if stop:
            trainer.should_stop = True

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.global_step > 0 and not trainer.sanity_checking:
            self._report(trainer.global_step, trainer.callback_metrics)

    def _report(self, step: int, metrics: dict[str, Any]) -> None:
        numbers = validation(metrics)
        if numbers:
            self.trial.report(step, **numbers)


def _seed_step(seed: int, step: int) -> None:
    """Seed every generator the step draws from with (trial seed, step): the same draws on the
    uninterrupted run and on a run resumed at this step, whatever ran in between."""
    import torch

    value = (seed * 1_000_003 + step) % (2**63)
    torch.manual_seed(value)
    random.seed(value)
    numpy = sys.modules.get("numpy")  # only if the training uses numpy: never import it for them
    if numpy is not None:
        numpy.random.seed(value % (2**32))


def _scalar(value: Any) -> float | None:
    if hasattr(value, "numel"):  # a tensor: one number, or not a metric
        if value.numel() != 1:
            return None
        value = value.item()
    return float(value) if finite_number(value) else None
