"""Helpers for the resume tests: a sweep run once as it is and once with its training worker
killed mid-segment, right after a checkpoint; an ASHA sweep whose promotions resume."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from sweeps import new_sweep_id, run_sweep, sweep_scope

from hpo.contracts.messages import SweepStatus
from hpo.contracts.spec import SweepSpec
from hpo.storage.checkpoints import CheckpointStore, step_of, trial_prefix
from hpo.storage.s3 import ObjectStore


async def wait_for_checkpoint(store: CheckpointStore, trial: str, min_step: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = store.latest(trial)
        if latest and step_of(latest) >= min_step:
            return step_of(latest)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no checkpoint at step >= {min_step} within {timeout}s")


def kill_and_replace(stack: Any, worker: Any) -> Any:
    """SIGKILL the training worker and start a new one, as a cluster replaces a lost pod."""
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    stack.processes.pop("training-worker")
    return stack.start_worker("training")


def assert_resumed(resumed: Any, uninterrupted: Any, killed_at: int, steps: int) -> None:
    """The killed trial completed, from the checkpoint the kill left, in more than one attempt."""
    assert resumed.status == "completed", resumed.error
    assert resumed.train.resumed_from_step >= killed_at > 0 and resumed.train.attempts >= 2
    assert resumed.train.step == uninterrupted.train.step == steps


async def uninterrupted_and_killed(
    stack: Any, spec: SweepSpec, name: str
) -> tuple[SweepStatus, SweepStatus, int]:
    """(the sweep run uninterrupted, the same sweep whose worker was SIGKILLed once its trial
    t0000 had a checkpoint, that checkpoint's step). A new worker replaces the killed one."""
    every = spec.training.checkpoint_every
    worker = stack.start_worker("training")
    try:
        baseline = await run_sweep(stack, spec, new_sweep_id(f"{name}-baseline"))
        assert baseline.trials[0].status == "completed", baseline.trials[0].error
        sweep_id = new_sweep_id(f"{name}-crash")
        sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
        checkpoints = CheckpointStore(ObjectStore(stack.settings))
        prefix = trial_prefix(sweep_id, "t0000", await sweep_scope(stack, sweep_id))
        killed_at = await wait_for_checkpoint(checkpoints, prefix, every, 180)
        assert killed_at < (spec.training.max_steps or 0), (
            "the trial finished before the worker could be killed"
        )
        worker = kill_and_replace(stack, worker)
        crashed = await asyncio.wait_for(sweep, 300)
    finally:
        stack.processes.pop("training-worker", worker).stop()
    return baseline, crashed, killed_at


async def asha_sweep_promoting_from_checkpoints(stack: Any, spec: SweepSpec, name: str) -> SweepStatus:
    """An ASHA sweep on a fresh training worker: nothing failed, somebody was promoted, and
    each promoted rung went on where the rung below it ended (from that rung's checkpoint)."""
    worker = stack.start_worker("training")
    try:
        status = await run_sweep(stack, spec, new_sweep_id(f"{name}-asha"))
    finally:
        stack.processes.pop("training-worker", worker).stop()
    assert status.counts.get("failed", 0) == 0, [t.error for t in status.trials]
    promoted = [t for t in status.trials if len(t.segments) > 1]
    assert promoted, "ASHA promoted nobody"
    for trial in promoted:
        assert [s.resumed_from_step for s in trial.segments][1:] == [s.step for s in trial.segments][:-1]
    return status
