"""An Optuna objective, with optuna-integration's XGBoost pruning callback, run as a durable hpo
sweep: the objective is the one an Optuna study would optimize; the last two lines are hpo's.

    hpo sweep run examples/optuna/sweep.yaml
"""

from __future__ import annotations

import optuna
import xgboost
from optuna_integration import XGBoostPruningCallback
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


def objective(trial: optuna.Trial) -> float:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, test_size=0.25, random_state=0)
    dtrain, dvalid = xgboost.DMatrix(x_train, label=y_train), xgboost.DMatrix(x_valid, label=y_valid)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "nthread": 1,
        "eta": trial.suggest_float("eta", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "booster": trial.suggest_categorical("booster", ["gbtree", "dart"]),
    }
    pruning = XGBoostPruningCallback(trial, "validation-logloss")
    booster = xgboost.train(
        params, dtrain, 60, evals=[(dvalid, "validation")], callbacks=[pruning], verbose_eval=False
    )
    return float(booster.eval(dvalid, "validation").split(":")[1])


# hpo: the objective as the sweep's training function (the spec's entrypoint objective:train).
import hpo.integrations.optuna as hpo_optuna  # noqa: E402

train = hpo_optuna.trainable(objective)
