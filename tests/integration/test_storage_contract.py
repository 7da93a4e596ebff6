"""The storage contract, against the real S3 server: a checkpoint exists exactly when its
manifest does, corrupt data is detected rather than loaded, old checkpoints are pruned
manifest-first, and bad credentials give a clear error."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from hpo.storage.checkpoints import CheckpointStore, CorruptCheckpoint, step_of
from hpo.storage.s3 import ObjectStore, StorageUnavailable

pytestmark = pytest.mark.integration


@pytest.fixture()
def checkpoints(stack) -> CheckpointStore:
    return CheckpointStore(ObjectStore(stack.settings), keep_last=2)


def _files(tmp_path, step: int) -> dict:
    path = tmp_path / f"weights-{step}.bin"
    path.write_bytes(bytes([step % 256]) * (1000 + step))
    return {"weights.bin": path}


def test_save_list_load_and_prune(checkpoints, tmp_path):
    trial = f"trials/contract-{uuid.uuid4().hex[:6]}/t0000"
    for step in (10, 20, 30):
        checkpoints.save(trial, step, _files(tmp_path, step), {"step": step})
    kept = checkpoints.manifests(trial)
    assert [step_of(key) for key in kept] == [20, 30]
    assert step_of(checkpoints.latest(trial, at_most_step=25)) == 20
    assert checkpoints.latest(trial, at_most_step=5) is None
    # Pruned checkpoints leave no data behind.
    assert not [k for k in checkpoints.store.list_keys(trial) if "step-000000010" in k]

    files, meta = checkpoints.load(kept[-1], tmp_path / "restore")
    assert meta == {"step": 30}
    assert files["weights.bin"].read_bytes() == _files(tmp_path, 30)["weights.bin"].read_bytes()


def test_data_without_a_manifest_is_not_a_checkpoint(checkpoints):
    trial = f"trials/contract-{uuid.uuid4().hex[:6]}/t0000"
    checkpoints.store.put_bytes(f"{trial}/ckpt/step-000000040/weights.bin", b"half-written")
    assert checkpoints.manifests(trial) == []
    assert checkpoints.latest(trial) is None


def test_corrupt_checkpoint_is_detected_and_named(checkpoints, tmp_path):
    trial = f"trials/contract-{uuid.uuid4().hex[:6]}/t0000"
    key = checkpoints.save(trial, 10, _files(tmp_path, 10), {})
    data_key = key.replace("manifest.json", "weights.bin")
    checkpoints.store.put_bytes(data_key, b"garbage")
    with pytest.raises(CorruptCheckpoint, match=data_key):
        checkpoints.load(key, tmp_path / "restore")


def test_release_keeps_only_the_scored_checkpoint(checkpoints, tmp_path):
    trial = f"trials/contract-{uuid.uuid4().hex[:6]}/t0000"
    for step in (10, 20):
        checkpoints.save(trial, step, _files(tmp_path, step), {})
    checkpoints.store.put_bytes(f"{trial}/ckpt/step-000000030/weights.bin", b"an upload that never finished")
    scored = checkpoints.latest(trial, at_most_step=10)
    before = checkpoints.store.list_sizes(f"{trial}/ckpt/")

    released = checkpoints.release(trial, scored)

    after = checkpoints.store.list_sizes(f"{trial}/ckpt/")
    assert checkpoints.manifests(trial) == [scored]
    assert set(after) == {key for key in before if "/step-000000010/" in key}
    assert released == sum(size for key, size in before.items() if key not in after) > 0
    # A checkpoint that is not there is never a reason to delete the ones that are.
    assert checkpoints.release(trial, f"{trial}/ckpt/step-000000099/manifest.json") == 0
    assert checkpoints.manifests(trial) == [scored]


def test_idempotent_writes(checkpoints):
    key = f"contract/{uuid.uuid4().hex}"
    checkpoints.store.put_bytes(key, b"same")
    checkpoints.store.put_bytes(key, b"same")
    assert checkpoints.store.get_bytes(key) == b"same"
    assert checkpoints.store.exists(key) and not checkpoints.store.exists(key + "-absent")


def test_wrong_credentials_are_reported(stack):
    settings = stack.settings.model_copy(update={"s3_secret_key": SecretStr("wrong")})
    with pytest.raises(StorageUnavailable, match="refused access"):
        ObjectStore(settings).ensure_bucket()


def test_wrong_credentials_when_checking_a_key_are_reported(stack):
    settings = stack.settings.model_copy(update={"s3_secret_key": SecretStr("wrong")})
    with pytest.raises(StorageUnavailable, match="refused to say whether s3://"):
        ObjectStore(settings).exists("datasets/any.csv")


def test_a_bucket_that_cannot_be_created_is_named(stack):
    settings = stack.settings.model_copy(update={"s3_bucket": "Not_A_Valid_Bucket"})
    with pytest.raises(StorageUnavailable, match="no bucket 'Not_A_Valid_Bucket' and could not create it"):
        ObjectStore(settings).ensure_bucket()
