"""Preemption is not failure: a trial whose worker is SIGTERMed ten times completes without
spending a retry. Its own module: it starts and stops its own training workers, and a module
fixture's worker beside them would take the segment instead."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from sweeps import new_sweep_id
from test_steering import assert_ledger_adds_up, start, steady_spec

from hpo.connections.temporal import connect

pytestmark = pytest.mark.integration


async def test_trial_preempted_ten_times_completes_with_no_retry_spent(stack):
    spec = steady_spec(
        trials=1,
        task={"config": {"step_seconds": 0.02}},
        training={"max_steps": 2000, "checkpoint_every": 10},
    )
    sweep_id = new_sweep_id("preempt")
    client = await connect(stack.settings)
    worker = stack.start_worker("training")
    handle = await start(stack, spec, sweep_id)
    trial = client.get_workflow_handle(f"{sweep_id}.t0000.r0")
    try:
        for _ in range(10):
            await _wait_for_running_activity(trial)
            await asyncio.sleep(0.5)
            worker.process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.process.wait, 120) == 0
            stack.processes.pop("training-worker")
            worker = stack.start_worker("training")
        status = await asyncio.wait_for(handle.result(), 300)
    finally:
        stack.processes.pop("training-worker", worker).stop()
    result = status.trials[0]
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in (await trial.fetch_history()).events
        if event.HasField("activity_task_started_event_attributes")
    ]
    print(f"preemptions {result.preemptions}, retries {result.retries}, activity attempts {attempts}")
    assert result.status == "completed", result.error
    assert result.train.step == 2000
    assert result.preemptions == 10 and result.retries == 0
    assert attempts == [1] * 11  # every execution was a first attempt: no retry spent
    assert_ledger_adds_up(status)


async def _wait_for_running_activity(trial: Any, timeout: float = 120) -> None:
    """Until the trial's segment runs on a worker and has made progress."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            described = await trial.describe()
            pending = described.raw_description.pending_activities
            if pending and pending[0].HasField("heartbeat_details"):
                return
        except Exception:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the trial's segment never started")
