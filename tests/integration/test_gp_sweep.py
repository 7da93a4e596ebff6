"""A GP sweep on the real stack: every proposal comes from the suggest activity on the sweep queue
and is recorded in history, so the recorded sweep replays without optuna (tests/unit/test_workflow_replay.py)."""

from __future__ import annotations

import pytest
from sweeps import new_sweep_id, replay_and_record
from test_steering import start, steady_spec

from hpo.connections.temporal import connect
from hpo.contracts import stubs
from hpo.search import parse_space

pytestmark = pytest.mark.integration


async def suggest_activities(stack, sweep_id: str) -> int:
    """How many suggest activities the sweep's recorded history scheduled."""
    client = await connect(stack.settings)
    history = await client.get_workflow_handle(sweep_id).fetch_history()
    return sum(
        e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == stubs.SUGGEST_CONFIGURATION
        for e in history.events
    )


async def test_gp_sweep_proposes_through_a_recorded_activity(stack, training_worker):
    spec = steady_spec(
        algorithm={"name": "gp", "options": {"n_startup_trials": 3}}, trials=8, max_concurrent=2
    )
    sweep_id = new_sweep_id("gp")
    status = await (await start(stack, spec, sweep_id)).result()
    assert status.state == "completed"
    assert status.trials_total == 8 and all(t.status == "completed" for t in status.trials)
    space = parse_space(spec.space)
    assert all(space.contains(t.params) for t in status.trials)

    # One activity per proposal: the first three from the sampler's startup, five from the fitted GP.
    assert await suggest_activities(stack, sweep_id) == 8
    best = status.leaderboard()[0]
    print(f"gp sweep best {best.objective:.4f} at {best.params}")
    await replay_and_record(stack, sweep_id, "gp_sweep_engine_v2")


async def test_bohb_with_a_gp_model_resumes_promotions_and_proposes_through_the_activity(
    stack, training_worker
):
    """Multi-fidelity with a model: Hyperband's brackets, new configurations from a GP fitted on the
    highest rung with enough results, promotions resumed from checkpoints."""
    spec = steady_spec(
        algorithm={
            "name": "bohb",
            "eta": 2,
            "min_fidelity": 5,
            "options": {"searcher": "gp", "n_startup_trials": 2},
        },
        trials=8,
        max_concurrent=2,
    )
    sweep_id = new_sweep_id("bohb-gp")
    status = await (await start(stack, spec, sweep_id)).result()
    assert status.state == "completed"
    assert status.trials_total == 8
    assert all(t.status in ("completed", "stopped") for t in status.trials)
    # Some trials were promoted past the first rung (resumed from their checkpoints) ...
    assert any(len(t.segments) > 1 for t in status.trials), [t.segments for t in status.trials]
    # ... and every new configuration was proposed by the recorded suggest activity.
    assert await suggest_activities(stack, sweep_id) == 8
