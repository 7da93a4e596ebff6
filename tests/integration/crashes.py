"""Helpers for the resume tests: a sweep run once as it is and once with its training worker
killed mid-segment, right after a checkpoint; an ASHA sweep whose promotions resume."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from sweeps import _merged, new_sweep_id, run_sweep, sweep_scope

from hpo.contracts.messages import SweepStatus
from hpo.contracts.spec import SweepSpec, load_spec, parse_spec
from hpo.storage.checkpoints import CheckpointStore, step_of, trial_prefix
from hpo.storage.s3 import ObjectStore


def example_spec(path: Path, **overrides: Any) -> SweepSpec:
    """An example's spec (examples/*/...yaml) with fields overridden, merged as nested dicts."""
    spec = load_spec(path).model_dump(mode="json", exclude_none=True)
    return parse_spec(_merged(spec, overrides))


def one_trial_spec(path: Path, steps: int, every: int, **overrides: Any) -> SweepSpec:
    """The example as one trial of `steps` steps, a checkpoint every `every`, and a 5 s heartbeat
    timeout so that the killed worker's segment is retried soon."""
    training = {"max_steps": steps, "checkpoint_every": every, "heartbeat_timeout_s": 5}
    return example_spec(path, algorithm="random", trials=1, max_concurrent=1, training=training, **overrides)


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


def resumed_like_uninterrupted(
    baseline: SweepStatus, crashed: SweepStatus, killed_at: int, steps: int
) -> tuple[Any, Any]:
    """(the killed sweep's trial, the uninterrupted one's), the resume checked and printed."""
    resumed, uninterrupted = crashed.trials[0], baseline.trials[0]
    print(
        f"killed after checkpoint step {killed_at}; resumed from {resumed.train.resumed_from_step}; "
        f"validation {resumed.validation} vs uninterrupted {uninterrupted.validation}"
    )
    assert_resumed(resumed, uninterrupted, killed_at, steps)
    return resumed, uninterrupted


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
