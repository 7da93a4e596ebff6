"""`hpo sweep delete` against the real S3 server and Temporal dev server: the sweep's record,
checkpoints, curves and unshared code archive and snapshot go, what another sweep's record
names stays, its closed workflows leave Temporal, and a running or unknown sweep is refused.

The sweeps are built by hand: storage objects in the layout the workers and the record write,
and workflow executions under the sweep's and its trials' workflow ids on a task queue no
worker polls (so they stay running until terminated). Deleting depends on ids and keys, not
on what the workflows did.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pty
import secrets
import subprocess
import sys
import time
import uuid

import pytest
from sweeps import new_sweep_id
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from hpo.cli.delete import executions_query
from hpo.connections.temporal import connect
from hpo.storage import code_archives
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration

NOBODY_POLLS = "hpo-delete-test-no-worker"


def hpo(*args: str, env: dict[str, str], stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args],
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + " " + result.stderr).split())


class Seeded:
    """One sweep's objects in the bucket: a record, checkpoints and curves, maybe a code
    archive and a snapshot (shared ones passed in)."""

    def __init__(self, store: ObjectStore, sweep_id: str, *, code: str | None, snapshot: str | None):
        self.store, self.sweep_id = store, sweep_id
        scope = str(uuid.uuid4())
        record = f"records/{sweep_id}/{scope}"
        store.put_json(
            f"{record}/sweep.json",
            {
                "version": 1,
                "sweep_id": sweep_id,
                "scope": scope,
                "request": {
                    "sweep_id": sweep_id,
                    "code": {"key": code, "sha256": "-", "bytes": 1} if code else None,
                },
                "snapshot": {"key": snapshot, "counts": {"train": 4}} if snapshot else None,
                "started_at": time.time(),
            },
        )
        store.put_json(f"{record}/trials/t0000.json", {"trial_id": "t0000"})
        trial = f"trials/{sweep_id}/{scope}/t0000"
        store.put_bytes(f"{trial}/ckpt/step-000000010/weights.bin", secrets.token_bytes(60_000))
        store.put_json(f"{trial}/ckpt/step-000000010/manifest.json", {"step": 10})
        store.put_bytes(f"{trial}/curve/r0-000000000.jsonl", b'{"step": 1, "loss": 0.5}\n')
        store.put_json(f"trials/{sweep_id}/t0001/ckpt/step-000000005/manifest.json", {})  # pre-scope layout

    def own_keys(self) -> list[str]:
        return self.store.list_keys(f"records/{self.sweep_id}/") + self.store.list_keys(
            f"trials/{self.sweep_id}/"
        )


def new_code(store: ObjectStore) -> str:
    key, _ = code_archives.upload(store, secrets.token_bytes(2000))
    return key


def new_snapshot(store: ObjectStore) -> str:
    prefix = f"snapshots/{hashlib.sha256(secrets.token_bytes(16)).hexdigest()}"
    store.put_bytes(f"{prefix}/train.safetensors", secrets.token_bytes(5000))
    store.put_json(f"{prefix}/manifest.json", {"counts": {"train": 4}, "labels": []})
    return prefix


def snapshot_keys(store: ObjectStore, prefix: str) -> list[str]:
    return store.list_keys(prefix + "/")


@pytest.fixture()
def store(stack) -> ObjectStore:
    return ObjectStore(stack.settings)


@pytest.fixture()
async def client(stack) -> Client:
    return await connect(stack.settings)


async def closed_workflow(client: Client, workflow_id: str, kind: str = "SweepWorkflow") -> str:
    """A closed (terminated) execution under `workflow_id`; returns its run id."""
    handle = await client.start_workflow(kind, {"never": "run"}, id=workflow_id, task_queue=NOBODY_POLLS)
    await handle.terminate(reason="test: a sweep that ended")
    await until(lambda: _listed_closed(client, workflow_id), "visibility to list it as closed")
    return handle.result_run_id or ""


async def _listed_closed(client: Client, workflow_id: str) -> bool:
    found = [e async for e in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    return bool(found) and all(e.status and e.status.name != "RUNNING" for e in found)


async def gone(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_delete_frees_the_sweeps_objects_and_workflows_but_not_what_another_uses(stack, store, client):
    shared_code, own_snapshot = new_code(store), new_snapshot(store)
    mine = Seeded(store, new_sweep_id("del"), code=shared_code, snapshot=own_snapshot)
    theirs = Seeded(store, new_sweep_id("del"), code=shared_code, snapshot=None)
    # Two runs of the sweep workflow (a continue-as-new chain leaves one per run), a trial and a predict.
    ids = [mine.sweep_id, mine.sweep_id, f"{mine.sweep_id}.t0000.r0", f"{mine.sweep_id}.predict.1"]
    for workflow_id in ids:
        await closed_workflow(client, workflow_id)
    await closed_workflow(client, theirs.sweep_id)
    assert len(mine.own_keys()) == 6

    result = hpo("sweep", "delete", mine.sweep_id, "--yes", env=stack.env)

    assert result.returncode == 0, said(result)
    assert f"keeping {shared_code}: also used by sweep {theirs.sweep_id}" in said(result)
    # Its 6 objects and the snapshot's 2; the shared archive is not counted.
    assert (
        f"deleted sweep {mine.sweep_id}: 8 objects, 0.1 MB (record, checkpoints and curves, snapshot) "
        "and 4 closed workflow executions in Temporal" in said(result)
    )
    assert mine.own_keys() == []
    assert snapshot_keys(store, own_snapshot) == []
    assert store.exists(shared_code)  # the other sweep's record still names it
    assert len(theirs.own_keys()) == 6
    assert not await gone(client, theirs.sweep_id)

    # Once the last sweep naming the archive is deleted, the archive goes with it.
    last = hpo("sweep", "delete", theirs.sweep_id, "--yes", env=stack.env)
    assert last.returncode == 0, said(last)
    assert "code archive" in said(last)
    assert not store.exists(shared_code)
    assert theirs.own_keys() == []

    # Temporal deletes executions in the background (about half a minute on the dev server).
    for workflow_id in {*ids, theirs.sweep_id}:
        await until(
            lambda w=workflow_id: gone(client, w), f"workflow {workflow_id} to be deleted", timeout=120
        )
    await until(lambda: _none_listed(client, mine.sweep_id), "visibility to drop the sweep's workflows")

    # Nothing is left of it: a second delete says so.
    again = hpo("sweep", "delete", mine.sweep_id, "--yes", env=stack.env)
    assert again.returncode == 2, said(again)
    assert f"no sweep '{mine.sweep_id}'" in said(again) and "Traceback" not in said(again)


async def test_a_running_sweep_is_refused_and_keeps_everything(stack, store, client):
    sweep = Seeded(store, new_sweep_id("del"), code=new_code(store), snapshot=new_snapshot(store))
    handle = await client.start_workflow(
        "SweepWorkflow", {"never": "run"}, id=sweep.sweep_id, task_queue=NOBODY_POLLS
    )
    try:
        before = sweep.own_keys()
        result = hpo("sweep", "delete", sweep.sweep_id, "--yes", env=stack.env)
        assert result.returncode == 2, said(result)
        assert f"sweep {sweep.sweep_id} is still running" in said(result)
        assert f"hpo sweep stop {sweep.sweep_id}" in said(result)
        assert "Traceback" not in said(result)
        assert sweep.own_keys() == before
        assert (await handle.describe()).status.name == "RUNNING"  # not terminated by the delete
    finally:
        await handle.terminate(reason="test over")


async def test_a_running_trial_of_an_ended_sweep_is_refused(stack, store, client):
    sweep = Seeded(store, new_sweep_id("del"), code=None, snapshot=None)
    await closed_workflow(client, sweep.sweep_id)
    trial = await client.start_workflow(
        "TrialWorkflow", {"never": "run"}, id=f"{sweep.sweep_id}.t0000.r1", task_queue=NOBODY_POLLS
    )
    try:
        await until(lambda: _listed(client, trial.id), "visibility to list the trial")
        result = hpo("sweep", "delete", sweep.sweep_id, "--yes", env=stack.env)
        assert result.returncode == 2, said(result)
        assert f"workflow {trial.id} of sweep {sweep.sweep_id} is still running" in said(result)
        assert len(sweep.own_keys()) == 6
    finally:
        await trial.terminate(reason="test over")


async def _none_listed(client: Client, sweep_id: str) -> bool:
    return not [e async for e in client.list_workflows(executions_query(sweep_id))]


async def _listed(client: Client, workflow_id: str) -> bool:
    return bool([e async for e in client.list_workflows(f'WorkflowId = "{workflow_id}"')])


def _on_a_terminal(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """Run `hpo` with a pseudo-terminal as stdin, the answer already typed."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer)
        process = subprocess.Popen(
            [sys.executable, "-m", "hpo.cli", *args],
            env=env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out, _ = process.communicate(timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)
    return process.returncode, " ".join(out.split())


def test_it_asks_first_and_no_deletes_nothing(stack, store):
    snapshot = new_snapshot(store)
    sweep = Seeded(store, new_sweep_id("del"), code=new_code(store), snapshot=snapshot)
    before = sweep.own_keys()
    question = (
        f"delete sweep {sweep.sweep_id}: 9 objects, 0.1 MB "
        "(record, checkpoints and curves, code archive, snapshot)? [y/N]"
    )

    code, out = _on_a_terminal(["sweep", "delete", sweep.sweep_id], stack.env, b"n\n")
    assert code == 1, out
    assert question in out and "nothing deleted" in out
    assert sweep.own_keys() == before and snapshot_keys(store, snapshot)

    code, out = _on_a_terminal(["sweep", "delete", sweep.sweep_id], stack.env, b"y\n")
    assert code == 0, out
    assert question in out and f"deleted sweep {sweep.sweep_id}" in out
    assert sweep.own_keys() == [] and snapshot_keys(store, snapshot) == []


def test_without_a_terminal_or_yes_it_refuses_at_once(stack, store):
    sweep = Seeded(store, new_sweep_id("del"), code=None, snapshot=None)
    result = hpo("sweep", "delete", sweep.sweep_id, env=stack.env, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, said(result)
    assert "stdin is not a terminal; pass --yes" in said(result)
    assert len(sweep.own_keys()) == 6


def test_an_unknown_sweep_is_a_clear_error(stack):
    result = hpo("sweep", "delete", new_sweep_id("never"), "--yes", env=stack.env)
    assert result.returncode == 2
    assert "no sweep 'never-" in said(result) and "Traceback" not in said(result)


def test_storage_gc_dry_run_lists_what_no_record_names_and_deletes_nothing(stack, store):
    named_code, named_snapshot = new_code(store), new_snapshot(store)
    Seeded(store, new_sweep_id("del"), code=named_code, snapshot=named_snapshot)
    loose_code, loose_snapshot = new_code(store), new_snapshot(store)

    result = hpo("storage", "gc", "--dry-run", env=stack.env)

    assert result.returncode == 0, said(result)
    assert f"{loose_code} 1" in said(result) and f"{loose_snapshot} 2" in said(result)
    assert named_code not in said(result) and named_snapshot not in said(result)
    assert "(nothing deleted)" in said(result)
    assert store.exists(loose_code) and len(snapshot_keys(store, loose_snapshot)) == 2

    refused = hpo("storage", "gc", env=stack.env)
    assert refused.returncode == 2 and "only lists, with --dry-run" in said(refused)
    assert store.exists(loose_code)
