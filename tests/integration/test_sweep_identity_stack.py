"""One run of one sweep owns its checkpoints, on the real stack: an id that could not name
storage is refused before anything starts, and a sweep id reused once Temporal has forgotten
the earlier run (a CronJob's `--from=cronjob/ladder` a week later) neither resumes from nor
deletes that run's checkpoints."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sweeps import byo_spec, new_sweep_id
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepStatus
from hpo.storage.checkpoints import CheckpointStore, trial_prefix
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration


def _hpo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], env=env, capture_output=True, text=True, timeout=400
    )


def _spec_file(tmp_path: Path) -> Path:
    # A ladder: rung 1 of a promoted trial resumes from its own rung 0, nothing else resumes.
    spec = byo_spec(
        trials=3,
        max_concurrent=2,
        algorithm={"name": "asha", "eta": 2, "min_fidelity": 20},
        training={"max_steps": 40, "checkpoint_every": 10},
    )
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    return path


async def _gone(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def _forget(client: Client, sweep_id: str) -> None:
    """What Temporal's retention does to a closed sweep: its workflows (the sweep's and its
    trials') are deleted, so the id is free again."""
    ids = [sweep_id]
    async for execution in client.list_workflows(f'WorkflowId STARTS_WITH "{sweep_id}."'):
        ids.append(execution.id)
    for workflow_id in ids:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
    deadline = time.monotonic() + 60
    while not await _gone(client, sweep_id):
        assert time.monotonic() < deadline, f"the server did not delete workflow {sweep_id}"
        await asyncio.sleep(0.5)


async def test_a_sweep_id_that_cannot_name_storage_starts_nothing(stack, tmp_path):
    path = _spec_file(tmp_path)
    store = ObjectStore(stack.settings)
    before = set(store.list_keys(""))

    refused = _hpo("sweep", "run", str(path), "--id", "x/", env=stack.env)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "'x/' is not a valid sweep id" in said and "--id" in said
    assert "Traceback" not in said
    client = await connect(stack.settings)
    assert await _gone(client, "x/")
    assert set(store.list_keys("")) == before  # no code archive, no trial objects


async def test_a_reused_sweep_id_neither_resumes_from_nor_deletes_the_earlier_runs_checkpoints(
    stack, training_worker, tmp_path
):
    path = _spec_file(tmp_path)
    sweep_id = new_sweep_id("reused")
    client = await connect(stack.settings)
    checkpoints = CheckpointStore(ObjectStore(stack.settings))

    first_run = _hpo("sweep", "run", str(path), "--id", sweep_id, env=stack.env)
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    first: SweepStatus = await client.get_workflow_handle(sweep_id, result_type=SweepStatus).result()
    assert first.state == "completed" and first.scope
    kept = {t.trial_id: t.train.checkpoint_key for t in first.trials if t.train and t.train.checkpoint_key}
    assert kept, "the first run kept no checkpoint"
    for trial_id, key in kept.items():
        assert key.startswith(trial_prefix(sweep_id, trial_id, first.scope) + "/ckpt/")

    await _forget(client, sweep_id)
    # Same spec, same seed: the same trials with the same params, under the same sweep id.
    second_run = _hpo("sweep", "run", str(path), "--id", sweep_id, env=stack.env)
    assert second_run.returncode == 0, second_run.stdout + second_run.stderr
    second: SweepStatus = await client.get_workflow_handle(sweep_id, result_type=SweepStatus).result()

    assert second.state == "completed" and second.scope and second.scope != first.scope
    assert [t.params for t in second.trials] == [t.params for t in first.trials]
    failed = [(t.trial_id, t.error) for t in second.trials if t.status == "failed"]
    assert not failed, failed
    for trial in second.trials:
        # Every trial started from scratch: nothing of the earlier run was resumed from.
        assert trial.segments and trial.segments[0].resumed_from_step == 0, (trial.trial_id, trial.segments)
        for lower, upper in zip(trial.segments, trial.segments[1:], strict=False):
            assert 0 < upper.resumed_from_step <= lower.step  # a promotion continues its own rung
        assert trial.train is not None and trial.train.checkpoint_key is not None
        assert trial.train.checkpoint_key.startswith(
            trial_prefix(sweep_id, trial.trial_id, second.scope) + "/"
        )
    # The earlier run's kept checkpoints survived the second run's pruning and release.
    for trial_id, key in kept.items():
        assert checkpoints.store.exists(key), key
        assert checkpoints.manifests(trial_prefix(sweep_id, trial_id, first.scope)) == [key]
