"""Leaderboard ranking and rendering, pure."""

from __future__ import annotations

import io

from rich.console import Console

from hpo.contracts.messages import SweepStatus, TrainResult, TrialResult, ranked_trials
from hpo.contracts.spec import parse_spec
from hpo.results.leaderboard import failures, leaderboard


def trial(
    trial_id: str, objective: float | None, step: int = 40, error: str | None = None, rung: int = 1
) -> TrialResult:
    metrics = {"accuracy": objective or 0.0, "loss": 0.5, "f1": 0.5} if objective is not None else None
    train = TrainResult(step=step, checkpoint_key="k", resumed_from_step=0, train_seconds=1.0)
    return TrialResult(
        trial_id=trial_id,
        params={"lr": 1e-4},
        status="failed" if error else "completed",
        rung=rung,
        objective=objective,
        validation=metrics,
        test=metrics,
        train=None if error else train,
        error=error,
    )


def test_higher_rung_ranks_first_then_objective():
    # "e" trained more steps (smaller batches, epochs budget) on the same rung: steps do not rank.
    trials = [
        trial("a", 0.9, step=10, rung=0),
        trial("b", 0.8),
        trial("c", 0.85),
        trial("d", None, error="boom"),
        trial("e", 0.6, step=80),
    ]
    assert [t.trial_id for t in ranked_trials(trials, "max")] == ["c", "b", "e", "a", "d"]
    assert [t.trial_id for t in ranked_trials(trials, "min")] == ["e", "b", "c", "a", "d"]


def test_leaderboard_shows_the_objective_first_other_metrics_and_failures():
    spec = parse_spec(
        {"name": "x", "space": {"lr": {"type": "float", "low": 1e-5, "high": 1e-3}}, "trials": 2,
         "training": {"max_steps": 40}}
    )  # fmt: skip
    status = SweepStatus(
        sweep_id="x-1", name="x", spec=spec, state="completed", objective_metric="accuracy", mode="max",
        trials=[trial("t0000", 0.875), trial("t0001", None, error="InvalidTrialConfig: batch")],
        best_trial_id="t0000", train_seconds=42.0, released_bytes=270_000_000,
    )  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=200).print(leaderboard(status))
    text = out.getvalue()
    assert "objective: validation accuracy (max)" in text
    header = next(line for line in text.splitlines() if "val accuracy" in line)
    # The objective's column comes before the task's other metrics, then its test value.
    assert header.index("val accuracy") < header.index("val f1") < header.index("test accuracy")
    assert "0.8750" in text
    assert failures(status) == ["t0001: InvalidTrialConfig: batch"]
    assert "training time 42 s" in text and "270.0 MB of superseded checkpoints released" in text


def test_leaderboard_names_a_user_metric_and_min_mode():
    spec = parse_spec(
        {"name": "y", "task": {"entrypoint": "train:train"}, "space": {"dropout": {"type": "float", "low": 0, "high": 0.5}},
         "trials": 1, "objective": {"metric": "val_rmse"}, "training": {"max_steps": 10}}
    )  # fmt: skip
    assert spec.mode == "min"  # an error-like metric name goes down unless the spec says otherwise
    done = TrialResult(trial_id="t0000", params={"dropout": 0.25}, status="completed", objective=0.125,
                       validation={"val_rmse": 0.125, "val_mae": 0.1})  # fmt: skip
    status = SweepStatus(sweep_id="y-1", name="y", spec=spec, state="completed", objective_metric="val_rmse",
                         mode="min", trials=[done], best_trial_id="t0000")  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=200).print(leaderboard(status))
    text = out.getvalue()
    assert "val val_rmse" in text and "val val_mae" in text and "0.1250" in text and "accuracy" not in text
