"""The ASHA ladder on the real stack: promoted trials resume from their rung checkpoint
instead of training again, and a dataset can come from an s3:// URI."""

from __future__ import annotations

import pytest
from sweeps import new_sweep_id, replay_and_record, run_sweep, tiny_spec

from hpo.storage.checkpoints import CheckpointStore, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration


async def test_asha_promotes_by_resuming_from_checkpoints(stack, training_worker, tiny_model, tiny_csv):
    ObjectStore(stack.settings).put_bytes("datasets/sentiment.csv", tiny_csv.read_bytes())
    spec = tiny_spec(
        tiny_model,
        tiny_csv,
        dataset={"source": f"s3://{stack.settings.s3_bucket}/datasets/sentiment.csv"},
        algorithm={"name": "asha", "eta": 2, "min_fidelity": 10},
        trials=4,
        max_concurrent=2,
        training={"max_steps": 40, "checkpoint_every": 10},
    )
    sweep_id = new_sweep_id("ladder")
    status = await run_sweep(stack, spec, sweep_id)
    await replay_and_record(stack, sweep_id, "sweep_asha_v4")

    assert status.state == "completed"
    assert all(t.snapshot and t.snapshot.counts["train"] > 0 for t in status.trials if t.train)
    promoted = [t for t in status.trials if t.rung > 0]
    assert promoted, f"ASHA promoted no trial: {[(t.trial_id, t.status, t.error) for t in status.trials]}"
    for trial in promoted:
        # Rung k continues rung k-1's run from its checkpoint: no step is trained twice.
        assert trial.train.resumed_from_step > 0
        assert trial.train.resumed_from_step < trial.train.step
    assert max(t.train.step for t in status.trials if t.train) == 40
    # Early stopping saved compute: not every trial trained to the top rung.
    assert sum(t.train.step for t in status.trials if t.train) < 4 * 40
    # When the sweep ends every scored trial, stopped ones included, keeps one checkpoint:
    # the one it was scored on.
    checkpoints = CheckpointStore(ObjectStore(stack.settings))
    scored = [t for t in status.trials if t.train and t.status in ("completed", "stopped")]
    assert any(t.status == "stopped" for t in scored)
    for trial in scored:
        assert checkpoints.manifests(trial_prefix(sweep_id, trial.trial_id, status.scope)) == [
            trial.train.checkpoint_key
        ]


async def test_a_dataset_error_fails_the_sweep_once_with_its_reason(
    stack, training_worker, tiny_model, tiny_csv
):
    from temporalio.client import WorkflowFailureError

    from hpo.cli.ui import root_cause

    spec = tiny_spec(tiny_model, tiny_csv, dataset={"label_field": "sentiment"})
    with pytest.raises(WorkflowFailureError) as failed:
        await run_sweep(stack, spec, new_sweep_id("bad-data"))
    assert "no column 'sentiment' (dataset.label_field)" in root_cause(failed.value)
