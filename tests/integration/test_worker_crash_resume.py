"""SIGKILL the training worker mid-trial: the trial resumes from its last checkpoint on a new
worker and ends with exactly the loss and metrics of an uninterrupted run of the same seed.
For the built-in text task, a user's function trial and a command trial alike. And the kill is
paid for in the ledger: the dead attempt's slot until its retry, the steps trained again."""

from __future__ import annotations

import asyncio
import time

import pytest
from crashes import kill_and_replace, uninterrupted_and_killed
from sweeps import byo_spec, new_sweep_id, run_sweep, sweep_scope, tiny_spec
from test_steering import assert_ledger_adds_up, steady_spec

from hpo.connections.temporal import connect
from hpo.contracts.spec import SweepSpec
from hpo.engine import ledger
from hpo.storage.checkpoints import CheckpointStore, step_of, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration

STEPS = 300
EVERY = 30


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
    baseline, crashed, killed_at = await uninterrupted_and_killed(stack, spec, kind)
    assert baseline.trials[0].train.resumed_from_step == 0

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
    # The killed attempt's seconds count too: the retry repeated work the kill threw away. It held
    # its slot until its retry: past its last heartbeat, at least the heartbeat timeout, all lost.
    assert resumed.train.train_seconds > uninterrupted.train.train_seconds * 0.5
    assert resumed.train.lost_seconds >= spec.training.heartbeat_timeout_s


async def _heartbeat_past_checkpoint(
    stack, sweep_id: str, checkpoints: CheckpointStore, min_step: int, timeout: float = 120
) -> tuple[int, int]:
    """(step, checkpoint step) once the server holds a heartbeat of the trial's segment past
    its newest checkpoint (>= min_step): a kill then throws steps away that the ledger knows of."""
    client = await connect(stack.settings)
    trial = client.get_workflow_handle(f"{sweep_id}.t0000.r0")
    prefix = trial_prefix(sweep_id, "t0000", await sweep_scope(stack, sweep_id))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = checkpoints.latest(prefix)
        saved = step_of(latest) if latest else 0
        try:
            pending = (await trial.describe()).raw_description.pending_activities
        except Exception:
            pending = []
        if saved >= min_step and pending and pending[0].heartbeat_details.payloads:
            (details,) = await client.data_converter.decode(pending[0].heartbeat_details.payloads)
            if int(details["step"]) > saved:
                return int(details["step"]), saved
        await asyncio.sleep(0.05)
    raise AssertionError(f"no heartbeat past a checkpoint at step >= {min_step} within {timeout}s")


async def test_a_sigkilled_segment_is_paid_for_in_the_ledger(stack):
    # 0.2 s a step, a checkpoint every 20 (4 s apart): heartbeats (every 3 s at most) land between.
    spec = steady_spec(
        trials=1,
        task={"config": {"step_seconds": 0.2}},
        training={"max_steps": 60, "checkpoint_every": 20, "heartbeat_timeout_s": 5},
    )
    sweep_id = new_sweep_id("crash-ledger")
    worker = stack.start_worker("training")
    try:
        sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
        checkpoints = CheckpointStore(ObjectStore(stack.settings))
        reached, saved = await _heartbeat_past_checkpoint(stack, sweep_id, checkpoints, 20)
        worker = kill_and_replace(stack, worker)
        status = await asyncio.wait_for(sweep, 300)
    finally:
        stack.processes.pop("training-worker", worker).stop()

    (trial,) = status.trials
    train = trial.train
    assert trial.status == "completed", trial.error
    assert train is not None and trial.retries == 1
    print(
        f"killed at step {reached} (heartbeat) past checkpoint {saved}; resumed from "
        f"{train.resumed_from_step}; spent {train.train_seconds:.1f} s, lost {train.lost_seconds:.1f} s, "
        f"{train.redone_steps} steps trained again"
    )
    assert train.resumed_from_step == saved
    # What the dead attempt had reached past the checkpoint is trained again...
    assert train.redone_steps == reached - saved > 0
    # ...and its slot is paid for until its retry was scheduled: past its last heartbeat, at
    # least the heartbeat timeout it waited out, none of which produced anything kept.
    assert train.lost_seconds >= spec.training.heartbeat_timeout_s
    useful = 60 * 0.2  # the steps the trial needed, once each
    assert train.train_seconds >= useful + train.lost_seconds

    # The ledger says so, and its totals are the sums over the segments.
    money = ledger.summarize(status.trials, status.spec)  # no price: amounts in accelerator-hours
    segments = trial.segments
    assert money.spent * 3600 == pytest.approx(sum(s.train_seconds for s in segments))
    assert money.lost_to_faults * 3600 == pytest.approx(sum(s.lost_seconds for s in segments))
    assert money.lost_to_faults * 3600 == pytest.approx(train.lost_seconds)
    assert money.redone_steps == sum(s.redone_steps for s in segments) == train.redone_steps
    assert status.money is not None and status.money.redone_steps == money.redone_steps
    assert_ledger_adds_up(status)
