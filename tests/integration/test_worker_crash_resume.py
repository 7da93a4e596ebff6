"""SIGKILL the training worker mid-trial: the trial resumes from its last checkpoint on a new
worker and ends with exactly the loss and metrics of an uninterrupted run of the same seed.
For the built-in text task, a user's function trial and a command trial alike."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from sweeps import byo_spec, new_sweep_id, run_sweep, sweep_scope, tiny_spec

from hpo.spec import SweepSpec
from hpo.storage.checkpoints import CheckpointStore, step_of, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration

STEPS = 300
EVERY = 30


async def _wait_for_checkpoint(store: CheckpointStore, trial: str, min_step: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = store.latest(trial)
        if latest and step_of(latest) >= min_step:
            return step_of(latest)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no checkpoint at step >= {min_step} within {timeout}s")


def _spec(kind: str, request: pytest.FixtureRequest) -> SweepSpec:
    training = {"max_steps": STEPS, "checkpoint_every": EVERY, "heartbeat_timeout_s": 5}
    if kind == "text":
        space = {"lr": {"type": "float", "low": 1.0e-3, "high": 2.0e-3, "log": True}}
        model, data = request.getfixturevalue("tiny_model"), request.getfixturevalue("tiny_csv")
        return tiny_spec(model, data, trials=1, max_concurrent=1, space=space, training=training)
    # A wide MLP, so that a segment lasts seconds: long enough to kill it half-way.
    space = {
        "lr": {"type": "float", "low": 1.0e-3, "high": 2.0e-3, "log": True},
        "hidden": {"type": "categorical", "choices": [1024]},
        "batch_size": {"type": "categorical", "choices": [128]},
    }
    return byo_spec(kind, trials=1, max_concurrent=1, algorithm="random", space=space, training=training)


@pytest.mark.parametrize("kind", ["text", "function", "command"])
async def test_sigkilled_worker_resumes_from_checkpoint_with_identical_loss(stack, kind, request):
    spec = _spec(kind, request)
    worker = stack.start_worker("training")
    try:
        baseline = await run_sweep(stack, spec, new_sweep_id(f"{kind}-baseline"))
        assert baseline.trials[0].status == "completed", baseline.trials[0].error
        assert baseline.trials[0].train.resumed_from_step == 0

        sweep_id = new_sweep_id(f"{kind}-crash")
        sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
        checkpoints = CheckpointStore(ObjectStore(stack.settings))
        killed_at = await _wait_for_checkpoint(
            checkpoints, trial_prefix(sweep_id, "t0000", await sweep_scope(stack, sweep_id)), EVERY, 180
        )
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
    # The killed attempt's seconds count too: the retry repeated work the kill threw away.
    assert resumed.train.train_seconds > uninterrupted.train.train_seconds * 0.5
