"""LightGBM as a durable hpo trial: rounds are steps, the booster is the checkpoint.

    import hpo.integrations.lightgbm as hpo_lightgbm

    def train(trial: hpo.Trial) -> dict[str, float]:
        booster = hpo_lightgbm.train(trial, params, train_set, valid_set)   # was lightgbm.train(...)
        return hpo_lightgbm.validation(booster, valid_set)                 # {"binary_logloss": ...}

`train` is `lightgbm.train` with the rounds, the model to continue and the callback filled in
(`hpo_callback`, `resume_model` and `rounds_left` do it by hand).

Each round's evaluation goes to the learning curve; the booster is checkpointed every
`training.checkpoint_every` rounds and at the rung's last round; a resumed or promoted trial
continues boosting from its round (`init_model`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm

from hpo.integrations.boosting import RoundKeeper, metrics_of, rounds_left
from hpo.trial import Trial

MODEL_FILE = "booster.txt"

__all__ = ["hpo_callback", "resume_model", "rounds_left", "train", "validation"]


def train(
    trial: Trial,
    params: dict[str, Any],
    train_set: lightgbm.Dataset,
    valid_set: lightgbm.Dataset,
    *,
    dataset: str = "validation",
    **kwargs: Any,
) -> lightgbm.Booster:
    """`lightgbm.train` for this segment: its rounds, from the round it resumes at."""
    rounds, start = rounds_left(trial), resume_model(trial)
    # The booster keeps its datasets, so `validation` can evaluate it.
    kwargs.setdefault("keep_training_booster", True)
    if rounds == 0 and start is not None:
        # A retry after the segment's last checkpoint: nothing to boost, but LightGBM cannot
        # train 0 rounds. One round taken back is exactly the checkpointed booster.
        booster = lightgbm.train(
            params,
            train_set,
            num_boost_round=1,
            valid_sets=[valid_set],
            valid_names=[dataset],
            init_model=start,
            **kwargs,
        )
        return booster.rollback_one_iter()
    callbacks = [*kwargs.pop("callbacks", []), hpo_callback(trial, dataset)]
    return lightgbm.train(
        params,
        train_set,
        num_boost_round=rounds,
        valid_sets=[valid_set],
        valid_names=[dataset],
        init_model=start,
        callbacks=callbacks,
        **kwargs,
    )


def resume_model(trial: Trial) -> str | None:
    """The saved booster this segment continues (`lightgbm.train(init_model=...)`), None fresh."""
    restored = trial.restored_dir()
    return str(restored / MODEL_FILE) if restored is not None else None


def hpo_callback(trial: Trial, dataset: str = "validation") -> Callable[[Any], None]:
    """A LightGBM callback: reports each round's evaluation of `dataset`, checkpoints the
    booster, and stops boosting at the rung's last round or when asked."""
    keeper = RoundKeeper(trial)

    def callback(env: Any) -> None:
        rounds = env.iteration + 1  # env.iteration counts from the first round, also on resume
        results = [(item[0], item[1], item[2]) for item in env.evaluation_result_list or []]
        save = lambda d: env.model.save_model(str(d / MODEL_FILE), num_iteration=-1)  # noqa: E731
        if keeper.after_round(rounds, metrics_of(results, dataset), save):
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    callback.order = 40  # type: ignore[attr-defined]  # after LightGBM's own evaluation logging
    return callback


def validation(
    booster: lightgbm.Booster, valid_set: lightgbm.Dataset, dataset: str = "validation"
) -> dict[str, float]:
    """The final booster's metrics on `valid_set` (also when the segment had no round left)."""
    # (dataset, metric, value, higher-is-better[, std]): a tuple or an EvalResult, by version.
    results = [(dataset, item[1], item[2]) for item in booster.eval(valid_set, dataset)]
    return metrics_of(results, dataset)
