"""Boosting rounds as a trial's steps (XGBoost, LightGBM): fidelity is rounds, a checkpoint is
the booster, and a resumed or promoted trial goes on boosting from its last round."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hpo.trial import Trial


def rounds_left(trial: Trial, total: int | None = None) -> int:
    """Rounds this segment boosts: to its rung's step (`trial.target_step`), from the round it
    resumes at. `total` stands in when the budget is not in steps (training.epochs)."""
    target = trial.target_step if trial.target_step is not None else total
    if target is None:
        raise ValueError(
            f"trial {trial.trial_id}: its budget is not in rounds; set training.max_steps (the rounds) "
            "in the spec, or pass total= to rounds_left"
        )
    return max(target - trial.start_step, 0)


def metrics_of(results: Iterable[tuple[str, str, Any]], dataset: str) -> dict[str, float]:
    """(dataset, metric, value) triples -> {metric: value} for `dataset`, finite numbers only."""
    out: dict[str, float] = {}
    for name, metric, value in results:
        if name == dataset and isinstance(value, int | float) and math.isfinite(float(value)):
            out[metric] = float(value)
    return out


class RoundKeeper:
    """After each round: report, checkpoint every `training.checkpoint_every` rounds and at the
    end, and say whether boosting must stop (the rung's last round, or the sweep or the worker
    asked)."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.every = trial.checkpoint_every or 10

    def after_round(self, rounds: int, metrics: dict[str, float], save: Callable[[Path], None]) -> bool:
        """`save(directory)` writes the booster into a checkpoint directory, when one is due."""
        trial = self.trial
        if metrics:
            trial.report(rounds, **metrics)
        target = trial.target_step
        stop = (target is not None and rounds >= target) or trial.should_stop()
        if stop or rounds % self.every == 0:
            with trial.checkpoint_dir(rounds) as directory:
                save(directory)
        return stop
