"""SIGTERM (pod eviction, scale-in) makes the training worker checkpoint the running trial at
its current step before it exits, so the next worker loses nothing."""

from __future__ import annotations

import asyncio
import signal

import pytest
from crashes import wait_for_checkpoint
from sweeps import new_sweep_id, run_sweep, sweep_scope, tiny_spec

from hpo.storage.checkpoints import CheckpointStore, step_of, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration

STEPS = 2000
EVERY = 500


async def test_sigterm_checkpoints_the_current_step_and_the_trial_resumes_there(stack, tiny_model, tiny_csv):
    spec = tiny_spec(
        tiny_model,
        tiny_csv,
        trials=1,
        max_concurrent=1,
        training={"max_steps": STEPS, "checkpoint_every": EVERY},
    )
    sweep_id = new_sweep_id("sigterm")
    worker = stack.start_worker("training")
    try:
        sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
        checkpoints = CheckpointStore(ObjectStore(stack.settings))
        trial = trial_prefix(sweep_id, "t0000", await sweep_scope(stack, sweep_id))
        await wait_for_checkpoint(checkpoints, trial, EVERY, 240)
        await asyncio.sleep(1.0)  # somewhere between two interval checkpoints
        worker.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.process.wait, 120) == 0
        stack.processes.pop("training-worker")
        saved = [step_of(key) for key in checkpoints.manifests(trial)]
        off_interval = [step for step in saved if step % EVERY]
        assert off_interval, f"no checkpoint at the step SIGTERM arrived; saved steps {saved}"

        worker = stack.start_worker("training")
        result = await asyncio.wait_for(sweep, 300)
    finally:
        stack.processes.pop("training-worker", worker).stop()
    resumed = result.trials[0]
    assert resumed.status == "completed", resumed.error
    assert resumed.train.resumed_from_step == max(off_interval)
    assert resumed.train.step == STEPS
