"""A whole sweep on the real Temporal dev server and real S3 server, with real activities."""

from __future__ import annotations

import pytest
from sweeps import new_sweep_id, replay_and_record, run_sweep, tiny_spec

from hpo.connections.temporal import connect
from hpo.contracts.messages import PredictRequest, PredictResult
from hpo.storage.checkpoints import CheckpointStore, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration


async def test_sweep_trains_evaluates_and_reuses_the_snapshot(stack, training_worker, tiny_model, tiny_csv):
    spec = tiny_spec(tiny_model, tiny_csv, trials=3, max_concurrent=1)
    sweep_id = new_sweep_id("e2e")
    status = await run_sweep(stack, spec, sweep_id)

    assert status.state == "completed"
    assert [t.status for t in status.trials] == ["completed"] * 3
    for trial in status.trials:
        assert trial.train is not None and trial.train.step == 40
        assert trial.validation is not None and 0.0 <= trial.validation["accuracy"] <= 1.0
        assert set(trial.validation) == set(trial.test or {}) == {"accuracy", "loss", "f1"}
        assert trial.objective == trial.validation["accuracy"]
    # One tokenization for the whole sweep, done before the first trial ...
    snapshots = {t.snapshot.key for t in status.trials if t.snapshot}
    assert len(snapshots) == 1
    # ... and reused by the next sweep over the same data, tokenizer and split.
    again = await run_sweep(stack, spec.model_copy(update={"trials": 1}), new_sweep_id("again"))
    assert again.trials[0].snapshot.key in snapshots
    assert again.trials[0].snapshot.reused is True
    best = max(status.trials, key=lambda t: t.objective or 0)
    assert status.best_trial_id == best.trial_id

    # While training, pruning keeps the newest two checkpoints per trial; when the sweep ends
    # each trial keeps only the one it was scored on, and the sweep says what that released.
    checkpoints = CheckpointStore(ObjectStore(stack.settings))
    for trial in status.trials:
        assert checkpoints.manifests(trial_prefix(sweep_id, trial.trial_id, status.scope)) == [
            trial.train.checkpoint_key
        ]
    assert trial.train.checkpoint_key.endswith("step-000000040/manifest.json")
    assert status.released_bytes > 0

    await replay_and_record(stack, sweep_id, "sweep_random_v4")

    client = await connect(stack.settings)
    prediction: PredictResult = await client.execute_workflow(
        "PredictWorkflow",
        # The checkpoint describes itself (model, layers, labels): the task and a key suffice.
        PredictRequest(
            checkpoint_key=best.train.checkpoint_key,
            task=spec.task,
            inputs=["a wonderful and lovely movie", "an awful boring plot"],
        ),
        id=f"{sweep_id}.predict",
        task_queue=stack.settings.sweep_queue,
        result_type=PredictResult,
    )
    assert prediction.trial_id == best.trial_id
    for row in prediction.predictions:
        assert row["label"] in ("negative", "positive")
        assert abs(sum(row["probabilities"].values()) - 1.0) < 1e-5


async def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(
    stack, training_worker, tiny_model, tiny_csv
):
    # Grid over batch sizes: 4096 exceeds the training split, a config no retry can fix.
    spec = tiny_spec(
        tiny_model,
        tiny_csv,
        space={"batch_size": {"type": "categorical", "choices": [8, 4096]}},
        algorithm="grid",
        trials=2,
    )
    status = await run_sweep(stack, spec)
    by_batch = {t.params["batch_size"]: t for t in status.trials}
    assert by_batch[8].status == "completed"
    assert by_batch[4096].status == "failed"
    assert "InvalidTrialConfig" in (by_batch[4096].error or "")
    assert status.best_trial_id == by_batch[8].trial_id
