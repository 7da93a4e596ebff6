"""`hpo sweep status` of a finished sweep needs no sweep worker (the final status is in the
workflow's history); for a running sweep with no worker to answer it says what is missing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sweeps import new_sweep_id, run_sweep, tiny_spec

from hpo.cli import commands
from hpo.cli.commands import _status_of
from hpo.cli.ui import UserError
from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepRequest

pytestmark = pytest.mark.integration


async def test_status_without_a_sweep_worker(stack, training_worker, tiny_model, tiny_csv, monkeypatch):
    spec = tiny_spec(tiny_model, tiny_csv, trials=1)
    sweep_id = new_sweep_id("status")
    finished = await run_sweep(stack, spec, sweep_id)
    client = await connect(stack.settings)
    queue = stack.settings.sweep_queue
    stack.processes.pop("sweep-worker").stop()
    try:
        assert await _status_of(client, sweep_id, stack.settings) == finished

        with pytest.raises(UserError, match="no sweep 'no-such-sweep'"):
            await _status_of(client, "no-such-sweep", stack.settings)

        # Running, with nobody polling the sweep queue: a message naming the queue, not a hang.
        monkeypatch.setattr(commands, "STATUS_QUERY_TIMEOUT", timedelta(seconds=3))
        waiting = new_sweep_id("waiting")
        handle = await client.start_workflow(
            "SweepWorkflow", SweepRequest(sweep_id=waiting, spec=spec), id=waiting, task_queue=queue
        )
        try:
            with pytest.raises(UserError, match=f"is running but did not answer.*{queue}"):
                await _status_of(client, waiting, stack.settings)
        finally:
            await handle.terminate("test over")
    finally:
        stack.start_worker("sweep")
