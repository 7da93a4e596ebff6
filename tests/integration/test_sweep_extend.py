"""A sweep that ended goes on from its record: `hpo sweep extend ID --trials N` on a completed
or stopped sweep, as Ray Tune users ask of `Tuner.restore` (same id, same search state)."""

from __future__ import annotations

import pytest
from sweeps import new_sweep_id, replay_and_record
from test_steering import start, steady_spec

from hpo.cli.control import control, extend_request
from hpo.cli.ui import UserError
from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepStatus

pytestmark = pytest.mark.integration


def table(status: SweepStatus) -> dict[str, tuple[dict, float | None, str]]:
    return {t.trial_id: (t.params, t.objective, t.status) for t in status.trials}


async def test_extend_a_completed_sweep_continues_its_search(stack, training_worker, capsys):
    # One at a time: a TPE's proposals then depend only on the results before them, so the sweep
    # extended from 4 to 7 trials must propose what the same sweep run to 7 at once does.
    spec = steady_spec(
        algorithm={"name": "tpe", "options": {"n_startup_trials": 3}}, trials=4, max_concurrent=1
    )
    sweep_id = new_sweep_id("extend")
    first = await (await start(stack, spec, sweep_id)).result()
    assert first.state == "completed" and first.trials_total == 4

    assert await control(stack.settings, sweep_id, extend_request(trials=7)) == 0
    said = capsys.readouterr().out
    assert f"extended ended sweep {sweep_id} (completed): trials 4 → 7" in said, said

    client = await connect(stack.settings)
    second = await client.get_workflow_handle(sweep_id, result_type=SweepStatus).result()
    assert second.state == "completed"
    assert second.trials_total == 7 and second.trials_planned == 7
    assert second.runs == first.runs + 1
    assert second.scope == first.scope, "the same sweep: its checkpoints and record stay where they were"
    # The first four trials are the same trials (the record), three new ones follow them.
    before = table(first)
    after = table(second)
    assert sorted(after) == [f"t{i:04d}" for i in range(7)]
    assert {tid: after[tid] for tid in before} == before
    assert all(after[tid][2] == "completed" for tid in after)
    # The search state went on (TPE learnt from the first four): the same as one straight run.
    straight_spec = steady_spec(
        algorithm={"name": "tpe", "options": {"n_startup_trials": 3}}, trials=7, max_concurrent=1
    )
    straight = await (await start(stack, straight_spec, new_sweep_id("straight"))).result()
    assert table(straight) == after

    # Extending must go up; the refusal changes nothing (the record still says completed).
    with pytest.raises(UserError, match="trials can only grow"):
        await control(stack.settings, sweep_id, extend_request(trials=5))
    again = await client.get_workflow_handle(sweep_id, result_type=SweepStatus).result()
    assert again.trials_total == 7 and again.state == "completed"
    await replay_and_record(stack, sweep_id, "sweep_engine_extend_v2")
