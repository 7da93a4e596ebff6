"""Leaderboard ranking and rendering, pure."""

from __future__ import annotations

import io

from rich.console import Console

from hpo.messages import Metrics, SweepStatus, TrainResult, TrialResult, ranked_trials
from hpo.report import failures, leaderboard
from hpo.spec import parse_spec


def trial(
    trial_id: str, objective: float | None, step: int = 40, error: str | None = None, rung: int = 1
) -> TrialResult:
    metrics = (
        Metrics(accuracy=objective or 0.0, loss=0.5, f1=0.5, examples=10) if objective is not None else None
    )
    train = TrainResult(
        step=step, checkpoint_key="k", final_loss=0.1, resumed_from_step=0, train_seconds=1.0, examples_seen=1
    )
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


def test_leaderboard_shows_validation_and_test_accuracy_and_failures():
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
    assert "val acc %" in text and "test acc %" in text and "87.5" in text
    assert failures(status) == ["t0001: InvalidTrialConfig: batch"]
    assert "training time 42 s" in text and "270.0 MB of superseded checkpoints released" in text
