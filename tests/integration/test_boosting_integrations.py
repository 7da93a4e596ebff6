"""XGBoost and LightGBM scripts (examples/boosting) as durable trials, boosting rounds as steps:
the training worker SIGKILLed mid-segment, the trial boosts on from its last checkpointed
booster and ends with the uninterrupted run's metrics; ASHA promotes by boosting on."""

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

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "boosting"
LIBRARIES = {"xgboost": ("xgboost.yaml", "logloss"), "lightgbm": ("lightgbm.yaml", "binary_logloss")}
# Enough data that a segment lasts seconds: long enough to kill it half-way.
ROUNDS, EVERY = 600, 50
BIG = {"rows": 40000, "features": 40}


def _spec(library: str, **overrides):
    pytest.importorskip(library, reason=f"{library} is in hpo's integrations extra")
    spec = load_spec(EXAMPLES / LIBRARIES[library][0]).model_dump(mode="json", exclude_none=True)
    return parse_spec(_merged(spec, overrides))


@pytest.mark.parametrize("library", sorted(LIBRARIES))
async def test_a_sigkilled_boosting_trial_goes_on_from_its_round_with_identical_metrics(stack, library):
    from test_worker_crash_resume import _wait_for_checkpoint

    spec = _spec(
        library,
        algorithm="random",
        trials=1,
        max_concurrent=1,
        task={"config": BIG},
        training={"max_steps": ROUNDS, "checkpoint_every": EVERY, "heartbeat_timeout_s": 5},
    )
    metric = LIBRARIES[library][1]
    worker = stack.start_worker("training")
    try:
        baseline = await run_sweep(stack, spec, new_sweep_id(f"{library}-baseline"))
        assert baseline.trials[0].status == "completed", baseline.trials[0].error

        sweep_id = new_sweep_id(f"{library}-crash")
        sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
        checkpoints = CheckpointStore(ObjectStore(stack.settings))
        killed_at = await _wait_for_checkpoint(
            checkpoints, trial_prefix(sweep_id, "t0000", await sweep_scope(stack, sweep_id)), EVERY, 180
        )
        assert killed_at < ROUNDS, "the trial finished before the worker could be killed"
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        stack.processes.pop("training-worker")
        worker = stack.start_worker("training")
        crashed = await asyncio.wait_for(sweep, 300)
    finally:
        stack.processes.pop("training-worker", worker).stop()

    resumed, uninterrupted = crashed.trials[0], baseline.trials[0]
    print(
        f"{library}: killed after round {killed_at}; resumed from {resumed.train.resumed_from_step}; "
        f"{metric} {resumed.validation[metric]!r} vs uninterrupted {uninterrupted.validation[metric]!r}"
    )
    assert resumed.status == "completed", resumed.error
    assert resumed.train.resumed_from_step >= killed_at > 0 and resumed.train.attempts >= 2
    assert resumed.train.step == uninterrupted.train.step == ROUNDS
    assert abs(resumed.validation[metric] - uninterrupted.validation[metric]) <= 1e-6


@pytest.mark.parametrize("library", sorted(LIBRARIES))
async def test_asha_promotes_a_boosting_trial_by_boosting_on(stack, library):
    spec = _spec(library)
    worker = stack.start_worker("training")
    try:
        status = await run_sweep(stack, spec, new_sweep_id(f"{library}-asha"))
    finally:
        stack.processes.pop("training-worker", worker).stop()
    assert status.counts.get("failed", 0) == 0, [t.error for t in status.trials]
    promoted = [t for t in status.trials if len(t.segments) > 1]
    assert promoted, "ASHA promoted nobody"
    for trial in promoted:
        assert [s.resumed_from_step for s in trial.segments][1:] == [s.step for s in trial.segments][:-1]
    assert status.best is not None and status.best.objective > 0
