"""An Optuna objective run by hpo's adapter: its suggestions are the spec's params, checked
against the spec's space; reports reach the curve; a stop is a pruning (no server needed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_trial_api import FolderSession  # noqa: E402

from hpo.integrations.optuna import OptunaTrial, space_of, trainable  # noqa: E402
from hpo.trial import Trial, TrialError  # noqa: E402

SPACE = {
    "x": {"type": "float", "low": -10.0, "high": 10.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "act": {"type": "categorical", "choices": ["relu", "tanh"]},
}
PARAMS = {"x": 2.5, "lr": 0.01, "layers": 3, "act": "tanh"}


def _trial(session: FolderSession, space: dict[str, Any] = SPACE) -> Trial:
    return Trial(
        session=session, sweep_id="s", trial_id="t0007", params=PARAMS, config={}, seed=7, rung=0,
        target_step=None, max_steps=None, epochs=1.0, space=space,
    )  # fmt: skip


def objective(trial: Any) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    layers = trial.suggest_int("layers", 1, 4)
    act = trial.suggest_categorical("act", ["relu", "tanh"])
    value = 0.0
    for step in range(5):
        value = (x - 2) ** 2 + lr * layers + (0.5 if act == "relu" else 0.0) + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def test_an_unchanged_objective_runs_on_the_specs_params(tmp_path):
    session = FolderSession(tmp_path)
    result = trainable(objective)(_trial(session))
    assert result == {"value": pytest.approx((2.5 - 2) ** 2 + 0.01 * 3 + 1.0 / 5)}
    assert [step for step, _ in session.reports] == [0, 1, 2, 3, 4]
    assert all(set(metrics) == {"value"} for _, metrics in session.reports)


def test_a_suggestion_that_disagrees_with_the_space_names_both(tmp_path):
    def other_range(trial: Any) -> float:
        return trial.suggest_float("x", -5.0, 5.0)

    with pytest.raises(TrialError, match=r"suggest_float\(-5.0, 5.0.*'x'.*float -10.0..10.0"):
        trainable(other_range)(_trial(FolderSession(tmp_path)))


def test_a_parameter_the_space_lacks_is_named_with_the_ones_it_has(tmp_path):
    def unknown(trial: Any) -> float:
        return trial.suggest_int("depth", 1, 8)

    with pytest.raises(TrialError, match=r"no parameter 'depth' \(it has: act, layers, lr, x\)"):
        trainable(unknown)(_trial(FolderSession(tmp_path)))


def test_a_stop_is_a_pruning_that_keeps_the_last_report(tmp_path):
    session = FolderSession(tmp_path)
    session.stop = True
    result = trainable(objective)(_trial(session))
    assert result == {"value": pytest.approx((2.5 - 2) ** 2 + 0.01 * 3 + 1.0)}  # step 0's value
    assert len(session.reports) == 1


def test_the_adapter_keeps_what_the_objective_suggested(tmp_path):
    adapter = OptunaTrial(_trial(FolderSession(tmp_path)))
    adapter.suggest_int("layers", 1, 4)
    assert adapter.params == {"layers": 3} and adapter.number == 7


def test_the_space_of_a_define_by_run_objective():
    assert space_of(objective) == {
        "x": {"type": "float", "low": -10.0, "high": 10.0},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "layers": {"type": "int", "low": 1, "high": 4},
        "act": {"type": "categorical", "choices": ["relu", "tanh"]},
    }
