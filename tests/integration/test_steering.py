"""Steering and paying on the real stack: preemption that costs no retry, continue-as-new that
changes nothing, a money budget that ends the sweep, and a ledger that adds up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sweeps import new_sweep_id, replay_and_record

from hpo.cli.commands import ship_code
from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepRequest, SweepStatus
from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.engine import ledger

pytestmark = pytest.mark.integration

STEADY = Path(__file__).resolve().parents[1] / "fixtures" / "steady"


def steady_spec(**overrides: Any) -> SweepSpec:
    spec: dict[str, Any] = {
        "name": "steady",
        "task": {"entrypoint": "trainer:train", "code": str(STEADY), "config": {"step_seconds": 0.0}},
        "space": {
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "y": {"type": "float", "low": -1.0, "high": 1.0},
        },
        "algorithm": "random",
        "trials": 4,
        "max_concurrent": 1,
        "objective": {"metric": "loss", "mode": "min"},
        "training": {"max_steps": 20, "checkpoint_every": 5, "heartbeat_timeout_s": 10},
    }
    for key, value in overrides.items():
        spec[key] = (
            {**spec[key], **value} if isinstance(value, dict) and isinstance(spec.get(key), dict) else value
        )
    return parse_spec(spec)


async def start(stack: Any, spec: SweepSpec, sweep_id: str, **request: Any):
    client = await connect(stack.settings)
    code = ship_code(stack.settings, spec)
    return await client.start_workflow(
        "SweepWorkflow",
        SweepRequest(sweep_id=sweep_id, spec=spec, code=code, **request),
        id=sweep_id,
        task_queue=stack.settings.sweep_queue,
        result_type=SweepStatus,
    )


def assert_ledger_adds_up(status: SweepStatus) -> None:
    money = ledger.summarize(status.trials, status.spec)
    assert money.spent - money.lost_to_faults + money.saved_by_early_stopping == pytest.approx(
        money.full_fidelity, rel=1e-9, abs=1e-9
    )
    print("\n".join(ledger.money_lines(money)))


def leaderboard(status: SweepStatus) -> list[tuple[str, dict, float | None, int]]:
    return [(t.trial_id, t.params, t.objective, t.train.step if t.train else 0) for t in status.leaderboard()]


async def test_continue_as_new_changes_nothing(stack, training_worker):
    spec = steady_spec(algorithm={"name": "tpe", "options": {"n_startup_trials": 4}}, trials=12)
    plain = await (await start(stack, spec, new_sweep_id("can-off"))).result()
    sweep_id = new_sweep_id("can-on")
    handle = await start(stack, spec, sweep_id, continue_as_new_after=40)
    carried = await handle.result()
    print(f"runs without continue-as-new {plain.runs}, with it at 40 events {carried.runs}")
    assert plain.runs == 1 and carried.runs >= 3
    assert leaderboard(carried) == leaderboard(plain)
    assert carried.trials_total == plain.trials_total == 12
    await replay_and_record(stack, sweep_id, "sweep_engine_can_v2")


async def test_money_budget_stops_the_sweep_within_one_segment(stack, training_worker):
    # 3600 per accelerator-hour: one unit per accelerator-second, so a segment costs ~0.5.
    spec = steady_spec(
        trials=40,
        max_concurrent=2,
        task={"config": {"step_seconds": 0.025}},
        price={"per_accelerator_hour": 3600, "currency": "EUR"},
        budget={"max_cost": 3.0, "currency": "EUR"},
    )
    status = await (await start(stack, spec, new_sweep_id("budget"))).result()
    money = status.money
    segment_costs = [s.train_seconds for t in status.trials for s in t.segments]
    print(
        f"state {status.state}: {status.stop_reason}; spent {money.spent:.3f} EUR of 3.0 over "
        f"{len(segment_costs)} segments, the dearest {max(segment_costs):.3f}"
    )
    assert status.state == "stopped" and "budget max_cost" in status.stop_reason
    assert status.trials_total < 40
    assert money.currency == "EUR"
    assert money.spent <= 3.0 + max(segment_costs)
    assert_ledger_adds_up(status)


async def test_asha_ledger_adds_up_and_shows_savings(stack, training_worker):
    spec = steady_spec(
        algorithm={"name": "asha", "eta": 2, "min_fidelity": 5},
        trials=8,
        max_concurrent=2,
        task={"config": {"step_seconds": 0.01}},
        price={"per_accelerator_hour": 2.5, "currency": "EUR"},
    )
    sweep_id = new_sweep_id("asha-money")
    status = await (await start(stack, spec, sweep_id)).result()
    money = status.money
    assert status.state == "completed"
    assert money.saved_by_early_stopping > 0 and money.saved_by_resuming > 0
    assert_ledger_adds_up(status)
    await replay_and_record(stack, sweep_id, "sweep_engine_asha_v2")
