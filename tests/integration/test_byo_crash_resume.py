"""SIGKILL the training worker in the middle of a user's function trial and of a command trial:
each resumes from the user's last checkpoint on a new worker and ends with exactly the loss
and metrics of an uninterrupted run."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from sweeps import byo_spec, new_sweep_id, run_sweep
from test_worker_crash_resume import _wait_for_checkpoint

from hpo.storage.checkpoints import CheckpointStore, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration

STEPS = 300
EVERY = 30


@pytest.mark.parametrize("kind", ["function", "command"])
async def test_sigkilled_byo_trial_resumes_with_identical_loss(stack, kind):
    # A wide MLP so that a segment lasts seconds: long enough to kill it half-way.
    spec = byo_spec(
        kind,
        trials=1,
        max_concurrent=1,
        algorithm="random",
        space={
            "lr": {"type": "float", "low": 1.0e-3, "high": 2.0e-3, "log": True},
            "hidden": {"type": "categorical", "choices": [1024]},
            "batch_size": {"type": "categorical", "choices": [128]},
        },
        training={"max_steps": STEPS, "checkpoint_every": EVERY, "heartbeat_timeout_s": 10},
    )
    worker = stack.start_worker("training")
    try:
        baseline = await run_sweep(stack, spec, new_sweep_id(f"{kind}-baseline"))
        assert baseline.trials[0].status == "completed", baseline.trials[0].error
        assert baseline.trials[0].train.resumed_from_step == 0

        sweep_id = new_sweep_id(f"{kind}-crash")
        sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
        checkpoints = CheckpointStore(ObjectStore(stack.settings))
        killed_at = await _wait_for_checkpoint(checkpoints, trial_prefix(sweep_id, "t0000"), EVERY, 180)
        assert killed_at < STEPS, "the trial finished before the worker could be killed"
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        stack.processes.pop("training-worker")
        worker = stack.start_worker("training")
        crashed = await asyncio.wait_for(sweep, 300)
    finally:
        stack.processes.pop("training-worker", worker).stop()

    resumed, uninterrupted = crashed.trials[0], baseline.trials[0]
    print(
        f"{kind}: killed after checkpoint step {killed_at}; resumed from step {resumed.train.resumed_from_step}; "
        f"final loss {resumed.train.metrics['loss']!r} vs uninterrupted {uninterrupted.train.metrics['loss']!r}"
    )
    assert resumed.status == "completed", resumed.error
    assert resumed.train.resumed_from_step >= killed_at > 0
    assert resumed.train.step == uninterrupted.train.step == STEPS
    assert abs(resumed.train.metrics["loss"] - uninterrupted.train.metrics["loss"]) <= 1e-6
    assert resumed.validation == pytest.approx(uninterrupted.validation, abs=1e-9)
    # The crashed attempt's seconds count too: the retry repeated work the kill threw away.
    assert resumed.train.train_seconds > 0
