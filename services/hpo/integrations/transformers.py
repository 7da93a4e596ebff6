"""Hugging Face `Trainer` as a durable hpo trial, in a few added lines.

    from hpo.integrations.transformers import HpoCallback, resume_from, trainer_arguments, validation

    def train(trial: hpo.Trial) -> dict[str, float]:
        args = TrainingArguments(output_dir=..., learning_rate=trial.params["lr"], **trainer_arguments(trial))
        trainer = Trainer(model=..., args=args, ..., callbacks=[HpoCallback(trial)])
        trainer.train(resume_from_checkpoint=resume_from(trial))
        return validation(trainer.evaluate())

What it does:
- the schedule spans the trial's whole budget (`max_steps` or `num_train_epochs`), and the
  segment stops at its rung's step (`trial.target_step`), so a promoted trial continues the
  same learning-rate schedule;
- every checkpoint Trainer writes (every `training.checkpoint_every` steps, at the rung's end,
  and when the worker stops) becomes an hpo checkpoint: Trainer's own folder, uploaded as it
  is, and handed back to `trainer.train(resume_from_checkpoint=...)` after a crash, a
  preemption or a promotion, which restores model, optimizer, scheduler, RNG and data order:
  the resumed run is the uninterrupted one;
- Trainer's logs and evaluations go to the trial's learning curve (`trial.report`);
- `trial.should_stop()` (a stop, a budget, a preemption) ends training after a checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from hpo.integrations.numbers import finite_number
from hpo.trial import Trial

# Trainer's own bookkeeping in the metrics it returns: not results.
_NOT_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch")


def trainer_arguments(trial: Trial) -> dict[str, Any]:
    """`TrainingArguments` fields for this segment: the whole budget, checkpoints every
    `training.checkpoint_every` steps, no other reporting."""
    budget: dict[str, Any] = (
        {"max_steps": trial.max_steps} if trial.max_steps is not None else {"num_train_epochs": trial.epochs}
    )
    every = trial.checkpoint_every or 500
    return {
        **budget,
        "save_strategy": "steps",
        "save_steps": every,
        "logging_steps": max(1, min(every, 50)),
        "report_to": "none",
        "seed": trial.seed,
        "data_seed": trial.seed,
    }


def resume_from(trial: Trial) -> str | None:
    """The Trainer checkpoint this segment starts from (`trainer.train(resume_from_checkpoint=...)`),
    None on a fresh start."""
    restored = trial.restored_dir()
    return str(restored) if restored is not None else None


def validation(metrics: dict[str, Any], prefix: str = "eval_") -> dict[str, float]:
    """`trainer.evaluate()`'s result as the trial's validation metrics: `eval_accuracy` becomes
    `accuracy` (the spec's objective names it so); timings and the epoch are left out."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        short = name.removeprefix(prefix)
        if short in _NOT_METRICS or not finite_number(value):
            continue
        out[short] = float(value)
    return out


class HpoCallback(TrainerCallback):  # type: ignore[misc]
    """Reports to the trial, stops at the rung's step or when asked, checkpoints through hpo."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        numbers = {name: float(v) for name, v in (logs or {}).items() if finite_number(v)}
        if numbers and state.global_step > 0:
            self.trial.report(state.global_step, **numbers)

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        target = self.trial.target_step
        if (target is not None and state.global_step >= target) or self.trial.should_stop():
            # Save first: the checkpoint is where the next rung, or the next worker, goes on.
            control.should_save = True
            control.should_training_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        with self.trial.checkpoint_dir(state.global_step) as directory:
            shutil.copytree(folder, directory, dirs_exist_ok=True)
