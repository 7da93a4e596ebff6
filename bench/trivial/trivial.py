"""The trial of bench/long_sweep.py: it returns its metric at once, so what a sweep of it costs
is hpo's and Temporal's alone (a child workflow, one training activity, a signal, the record)."""

import hpo


def train(trial: hpo.Trial) -> dict[str, float]:
    return {"loss": trial.params["x"] ** 2}
