"""XGBoost as a durable hpo trial: rounds are steps, the booster is the checkpoint.

    from hpo.integrations.xgboost import HpoCallback, resume_booster, rounds_left

    def train(trial: hpo.Trial) -> dict[str, float]:
        hpo_callback = HpoCallback(trial, dvalid)
        booster = xgboost.train(params, dtrain, num_boost_round=rounds_left(trial),
                                evals=[(dvalid, "validation")], xgb_model=resume_booster(trial),
                                callbacks=[hpo_callback])
        return hpo_callback.validation(booster)      # {"logloss": ...}: the spec's objective

Each round's evaluation goes to the learning curve; the booster is checkpointed every
`training.checkpoint_every` rounds and at the rung's last round; a resumed or promoted trial
continues boosting from its round (XGBoost's continued training is exact: the same trees).
"""

from __future__ import annotations

from typing import Any

import xgboost

from hpo.integrations.boosting import RoundKeeper, metrics_of, rounds_left
from hpo.trial import Trial

MODEL_FILE = "booster.ubj"

__all__ = ["HpoCallback", "resume_booster", "rounds_left"]


def resume_booster(trial: Trial) -> xgboost.Booster | None:
    """The booster this segment continues (`xgboost.train(xgb_model=...)`), None on a fresh start."""
    restored = trial.restored_dir()
    if restored is None:
        return None
    booster = xgboost.Booster()
    booster.load_model(str(restored / MODEL_FILE))
    return booster


class HpoCallback(xgboost.callback.TrainingCallback):  # type: ignore[misc]
    """Reports each round's evaluation of `dataset`, checkpoints the booster, stops when asked."""

    def __init__(self, trial: Trial, valid: xgboost.DMatrix, dataset: str = "validation") -> None:
        self.trial, self.valid, self.dataset = trial, valid, dataset
        self._keeper = RoundKeeper(trial)

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        scores = evals_log.get(self.dataset, {})
        last = [(self.dataset, metric, values[-1]) for metric, values in scores.items() if values]
        # epoch counts from 0 in every call of xgboost.train: the booster knows the true round.
        return self._keeper.after_round(
            model.num_boosted_rounds(),
            metrics_of(last, self.dataset),
            lambda d: model.save_model(str(d / MODEL_FILE)),
        )

    def validation(self, booster: xgboost.Booster) -> dict[str, float]:
        """The final booster's metrics on the validation set (also when the segment had no round
        left to boost: a retry after its last checkpoint)."""
        line = booster.eval_set([(self.valid, self.dataset)])  # "[30]\tvalidation-logloss:0.26..."
        results = []
        for field in line.split("\t")[1:]:
            name, _, value = field.partition(":")
            dataset, _, metric = name.partition("-")
            results.append((dataset, metric, float(value)))
        return metrics_of(results, self.dataset)
