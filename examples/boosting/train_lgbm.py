"""A LightGBM script as an hpo trial: rounds are steps, so ASHA promotes a trial by boosting
on from its booster, and a killed worker's trial goes on from its last checkpointed round."""

from __future__ import annotations

import lightgbm
from tabular_data import tabular

import hpo
import hpo.integrations.lightgbm as hpo_lightgbm


def train(trial: hpo.Trial) -> dict[str, float]:
    x, y, vx, vy = tabular(int(trial.config.get("rows", 4000)), int(trial.config.get("features", 20)), 0)
    train_set = lightgbm.Dataset(x, label=y, free_raw_data=False)
    valid_set = lightgbm.Dataset(vx, label=vy, reference=train_set, free_raw_data=False)
    params = {
        "objective": "binary",
        "learning_rate": trial.params["learning_rate"],
        "num_leaves": trial.params["num_leaves"],
        "min_data_in_leaf": trial.params["min_data_in_leaf"],
        "seed": trial.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = hpo_lightgbm.train(trial, params, train_set, valid_set)
    return hpo_lightgbm.validation(booster, valid_set)
