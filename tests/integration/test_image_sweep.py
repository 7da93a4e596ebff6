"""The built-in image-classification task on the real stack: an .npz of CIFAR-shaped images
from an s3:// URI, prepared once per sweep, a small ResNet climbing an ASHA ladder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sweeps import new_sweep_id, replay_and_record, run_sweep

from hpo.connections.temporal import connect
from hpo.contracts.messages import PredictRequest, PredictResult
from hpo.contracts.spec import parse_spec
from hpo.storage.s3 import ObjectStore
from hpo.tasks.image_data import synthetic_cifar

pytestmark = pytest.mark.integration


async def test_image_classification_asha_sweep_from_an_s3_npz(stack, training_worker):
    images = synthetic_cifar(count=400, seed=3)
    buffer = io.BytesIO()
    np.savez(buffer, x=images.images, y=images.labels, label_names=np.array(images.label_names))
    ObjectStore(stack.settings).put_bytes("datasets/shapes.npz", buffer.getvalue())
    spec = parse_spec(
        {
            "name": "images",
            "task": "image-classification",
            "dataset": {"source": f"s3://{stack.settings.s3_bucket}/datasets/shapes.npz"},
            "space": {
                "lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True},
                "optimizer": {"type": "categorical", "choices": ["sgd", "adamw"]},
                "width": {"type": "categorical", "choices": [8]},
                "depth": {"type": "int", "low": 1, "high": 2},
                "augment": {"type": "categorical", "choices": [False, True]},
            },
            "algorithm": {"name": "asha", "eta": 2, "min_fidelity": 5},
            "trials": 4,
            "max_concurrent": 2,
            "training": {"max_steps": 20, "checkpoint_every": 5, "heartbeat_timeout_s": 20},
        }
    )
    sweep_id = new_sweep_id("images")
    status = await run_sweep(stack, spec, sweep_id)
    await replay_and_record(stack, sweep_id, "sweep_image_asha_v4")

    assert status.state == "completed" and status.objective_metric == "accuracy"
    assert all(t.status in ("completed", "stopped") for t in status.trials), [t.error for t in status.trials]
    assert len({t.snapshot.key for t in status.trials}) == 1  # prepared once for the whole sweep
    assert status.trials[0].snapshot.label_names == list(images.label_names)
    assert sum(status.trials[0].snapshot.counts.values()) == 400
    promoted = [t for t in status.trials if t.rung > 0]
    assert promoted and all(0 < t.train.resumed_from_step < t.train.step for t in promoted)
    for trial in status.trials:
        assert set(trial.validation) == set(trial.test) == {"accuracy", "loss"}
        assert 0.0 <= trial.objective <= 1.0

    best = status.best
    client = await connect(stack.settings)
    result: PredictResult = await client.execute_workflow(
        "PredictWorkflow",
        PredictRequest(
            checkpoint_key=best.train.checkpoint_key, task=spec.task, inputs=[images.images[0].tolist()]
        ),
        id=f"{sweep_id}.predict",
        task_queue=stack.settings.sweep_queue,
        result_type=PredictResult,
    )
    (row,) = result.predictions
    assert row["label"] in images.label_names
