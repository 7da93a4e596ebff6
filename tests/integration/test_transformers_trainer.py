"""A Hugging Face Trainer script (examples/transformers) as a durable trial: the training
worker SIGKILLed mid-segment, the trial resumes from Trainer's own checkpoint and ends with
the metrics of an uninterrupted run; an ASHA sweep of it promotes from those checkpoints."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from sweeps import _merged, new_sweep_id, run_sweep, sweep_scope

from hpo.contracts.spec import load_spec, parse_spec
from hpo.storage.checkpoints import CheckpointStore, trial_prefix
from hpo.storage.s3 import ObjectStore

pytest.importorskip("accelerate", reason="Trainer needs accelerate: the integrations extra installs it")

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "transformers"
STEPS, EVERY = 240, 40


def _spec(**overrides):
    spec = load_spec(EXAMPLE / "sweep.yaml").model_dump(mode="json", exclude_none=True)
    return parse_spec(_merged(spec, overrides))


async def test_a_sigkilled_trainer_trial_resumes_with_identical_metrics(stack):
    from test_worker_crash_resume import _wait_for_checkpoint

    spec = _spec(
        algorithm="random",
        trials=1,
        max_concurrent=1,
        training={"max_steps": STEPS, "checkpoint_every": EVERY, "heartbeat_timeout_s": 5},
    )
    worker = stack.start_worker("training")
    try:
        baseline = await run_sweep(stack, spec, new_sweep_id("hf-baseline"))
        assert baseline.trials[0].status == "completed", baseline.trials[0].error

        sweep_id = new_sweep_id("hf-crash")
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
        f"killed after checkpoint step {killed_at}; resumed from {resumed.train.resumed_from_step}; "
        f"validation {resumed.validation} vs uninterrupted {uninterrupted.validation}"
    )
    assert resumed.status == "completed", resumed.error
    assert resumed.train.resumed_from_step >= killed_at > 0 and resumed.train.attempts >= 2
    assert resumed.train.step == uninterrupted.train.step == STEPS
    assert set(resumed.validation) >= {"loss", "accuracy"}
    for name, value in uninterrupted.validation.items():
        assert abs(resumed.validation[name] - value) <= 1e-6, name
    # The curve's last point too (Trainer's last log), timings aside.
    timed = ("runtime", "per_second")
    last = {k: v for k, v in uninterrupted.train.metrics.items() if not any(t in k for t in timed)}
    assert last, uninterrupted.train.metrics
    for name, value in last.items():
        assert abs(resumed.train.metrics[name] - value) <= 1e-6, name


async def test_an_asha_sweep_of_the_trainer_example_promotes_from_its_checkpoints(stack):
    worker = stack.start_worker("training")
    try:
        status = await run_sweep(stack, _spec(), new_sweep_id("hf-asha"))
    finally:
        stack.processes.pop("training-worker", worker).stop()
    assert status.counts.get("failed", 0) == 0, [t.error for t in status.trials]
    promoted = [t for t in status.trials if len(t.segments) > 1]
    assert promoted, "ASHA promoted nobody"
    for trial in promoted:
        # Each rung continued where the one below ended: Trainer resumed its own checkpoint.
        assert [s.resumed_from_step for s in trial.segments][1:] == [s.step for s in trial.segments][:-1]
    assert status.best is not None and 0.0 <= status.best.objective <= 1.0
