"""An XGBoost script as an hpo trial: rounds are steps, so ASHA promotes a trial by boosting
on from its booster, and a killed worker's trial goes on from its last checkpointed round."""

from __future__ import annotations

import xgboost
from tabular_data import tabular

import hpo
from hpo.integrations.xgboost import HpoCallback, resume_booster, rounds_left


def train(trial: hpo.Trial) -> dict[str, float]:
    x, y, vx, vy = tabular(int(trial.config.get("rows", 4000)), int(trial.config.get("features", 20)), 0)
    dtrain, dvalid = xgboost.DMatrix(x, label=y), xgboost.DMatrix(vx, label=vy)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "eta": trial.params["eta"],
        "max_depth": trial.params["max_depth"],
        "min_child_weight": trial.params["min_child_weight"],
        "seed": trial.seed,
        "nthread": 1,
    }
    callback = HpoCallback(trial, dvalid)
    booster = xgboost.train(
        params,
        dtrain,
        num_boost_round=rounds_left(trial),
        evals=[(dvalid, "validation")],
        xgb_model=resume_booster(trial),
        callbacks=[callback],
        verbose_eval=False,
    )
    return callback.validation(booster)
