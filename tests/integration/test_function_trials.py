"""Bring-your-own training on the real stack: the examples/byo function trial, shipped as code
through S3, tuned with ASHA; promotions continue from the user's own checkpoints."""

from __future__ import annotations

import json

import pytest
from sweeps import byo_spec, new_sweep_id, replay_and_record, run_sweep

from hpo.connections.temporal import connect
from hpo.contracts.messages import PredictRequest, PredictResult
from hpo.storage.checkpoints import CheckpointStore, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration


async def test_function_trial_asha_promotions_continue_from_the_users_checkpoint(stack, training_worker):
    spec = byo_spec(
        trials=6,
        algorithm={"name": "asha", "eta": 2, "min_fidelity": 20},
        training={"max_steps": 80, "checkpoint_every": 20},
    )
    sweep_id = new_sweep_id("byo")
    status = await run_sweep(stack, spec, sweep_id)
    await replay_and_record(stack, sweep_id, "sweep_function_asha_v4")

    assert status.state == "completed" and status.code is not None
    assert status.objective_metric == "error_rate" and status.mode == "min"
    failed = [(t.trial_id, t.error) for t in status.trials if t.status == "failed"]
    assert not failed, failed
    promoted = [t for t in status.trials if t.rung > 0]
    assert promoted, "ASHA promoted no trial"
    for trial in promoted:
        # Rung k continued rung k-1's run from the checkpoint the function saved: no step twice.
        assert 0 < trial.train.resumed_from_step < trial.train.step
        assert set(trial.validation) == {"error_rate", "nll"} and set(trial.test) == {"error_rate", "nll"}
    assert max(t.train.step for t in status.trials) == 80
    assert sum(t.train.step for t in status.trials) < 6 * 80  # early stopping saved compute
    best = min(
        (t for t in status.trials if t.rung == max(x.rung for x in status.trials)), key=lambda t: t.objective
    )
    assert status.best_trial_id == best.trial_id

    # The learning curve of every segment lies beside the checkpoints, not in the history.
    store = ObjectStore(stack.settings)
    curves = store.list_keys(f"{trial_prefix(sweep_id, best.trial_id, status.scope)}/curve/")
    rows = [json.loads(line) for key in curves for line in store.get_bytes(key).decode().splitlines()]
    assert sorted({row["step"] for row in rows}) == list(range(1, 81))
    # Each scored trial keeps exactly the checkpoint it was scored on.
    checkpoints = CheckpointStore(store)
    for trial in status.trials:
        assert checkpoints.manifests(trial_prefix(sweep_id, trial.trial_id, status.scope)) == [
            trial.train.checkpoint_key
        ]

    # The user's predict hook serves the best trial from its self-describing checkpoint.
    client = await connect(stack.settings)
    image = [0, 0, 5, 13, 9, 1, 0, 0] * 8
    prediction: PredictResult = await client.execute_workflow(
        "PredictWorkflow",
        PredictRequest(
            checkpoint_key=best.train.checkpoint_key, task=spec.task, inputs=[image], code=status.code
        ),
        id=f"{sweep_id}.predict",
        task_queue=stack.settings.sweep_queue,
        result_type=PredictResult,
    )
    assert prediction.trial_id == best.trial_id
    (row,) = prediction.predictions
    assert row["label"] in [str(d) for d in range(10)]
    assert abs(sum(row["probabilities"].values()) - 1.0) < 1e-3
