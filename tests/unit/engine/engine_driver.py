"""Helpers for the engine's unit tests: specs, and segments run by a pure stand-in trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo.contracts.messages import TrainResult, TrialResult
from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.engine.core import StartSegment, SweepEngine
from hpo.engine.targets import segment_target


def make_spec(**overrides: Any) -> SweepSpec:
    spec: dict[str, Any] = {
        "name": "engine",
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
        "algorithm": "random",
        "trials": 6,
        "max_concurrent": 2,
        "seed": 0,
        "training": {"max_steps": 90},
        "objective": {"metric": "loss", "mode": "min"},
    }
    spec.update(overrides)
    return parse_spec(spec)


def result_of(
    engine: SweepEngine,
    start: StartSegment,
    value: float | None,
    *,
    status: str = "completed",
    seconds: float = 10.0,
    lost: float = 0.0,
    start_step: int = 0,
    **train: Any,
) -> TrialResult:
    """What a segment that trained from `start_step` to its target would report."""
    target = segment_target(engine.state.spec, start.fidelity) or 0
    return TrialResult(
        trial_id=start.trial_id,
        params=start.params,
        status=status,  # type: ignore[arg-type]
        rung=start.rung,
        objective=value if status == "completed" else None,
        error=None if status == "completed" else f"{status} on purpose",
        train=TrainResult(
            step=target, train_seconds=seconds, start_step=start_step, lost_seconds=lost, **train
        ),
    )


Objective = Callable[[StartSegment], float]


def loss_of_lr(start: StartSegment) -> float:
    return abs(float(start.params["lr"]) - 0.01) + 1.0 / (1 + start.rung)


def run_to_the_end(
    engine: SweepEngine, objective: Objective = loss_of_lr, *, now: float = 0.0, limit: int = 100_000
) -> float:
    """Start what the engine asks, answer each segment at once (oldest first), until it is over."""
    running: list[StartSegment] = []
    for _ in range(limit):
        running.extend(engine.starts(now))
        if engine.over:
            return now
        now += 1.0
        start = running.pop(0)
        engine.on_result(
            result_of(
                engine, start, objective(start), start_step=engine.state.reached.get(start.trial_id, 0)
            ),
            now,
        )
    raise AssertionError("the sweep did not end")
