"""Issue 9 hardening against the real S3 server: datasets only from allowed buckets (the worker's
read and the CLI's preflight), the chart's bucket-creation module, and a forged checkpoint
manifest skipped for an older checkpoint without a byte written outside the scratch directory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from sweeps import tiny_spec

from hpo.activities.segment import TrainingActivities
from hpo.cli.commands import preflight
from hpo.cli.ui import UserError
from hpo.contracts.messages import SegmentRequest
from hpo.storage.checkpoints import CheckpointStore, checkpoint_prefix, trial_prefix
from hpo.storage.s3 import ObjectStore
from hpo.tasks.datasets import DatasetError, read_source_bytes

pytestmark = pytest.mark.integration

CSV = b"text,label\nlovely,pos\nawful,neg\n"


def _bucket_with_a_dataset(stack) -> tuple[str, str]:
    bucket = f"hpo-other-{uuid.uuid4().hex[:8]}"
    store = ObjectStore(stack.settings, bucket=bucket)
    store.ensure_bucket()
    store.put_bytes("corpus.csv", CSV)
    return bucket, f"s3://{bucket}/corpus.csv"


def test_the_worker_reads_datasets_only_from_allowed_buckets(stack):
    bucket, uri = _bucket_with_a_dataset(stack)
    with pytest.raises(DatasetError, match=rf"{uri} is in bucket '{bucket}', which datasets may not be read"):
        read_source_bytes(uri, ObjectStore(stack.settings))
    allowed = stack.settings.model_copy(update={"dataset_buckets": f"corpora,{bucket}"})
    assert read_source_bytes(uri, ObjectStore(allowed)) == CSV
    # The configured bucket needs no listing.
    own = stack.settings.s3_bucket
    ObjectStore(stack.settings).put_bytes("datasets/own.csv", CSV)
    assert read_source_bytes(f"s3://{own}/datasets/own.csv", ObjectStore(stack.settings)) == CSV


def test_sweep_run_refuses_a_dataset_bucket_before_starting(tmp_path, stack, tiny_model, tiny_csv):
    bucket, uri = _bucket_with_a_dataset(stack)
    spec = tiny_spec(tiny_model, tiny_csv, dataset={"source": uri})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    env = {**os.environ, "HPO_TEMPORAL_ADDRESS": stack.settings.temporal_address,
           "HPO_S3_ENDPOINT": stack.settings.s3_endpoint, "HPO_DATASET_BUCKETS": "",
           "HPO_HOME": str(stack.home)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "sweep", "run", str(path), "--id", f"refused-{bucket}"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"dataset.source: {uri} is in bucket '{bucket}'" in result.stderr
    assert "HPO_DATASET_BUCKETS" in result.stderr
    # Listed, the same spec passes the preflight (which starts nothing itself).
    allowed = stack.settings.model_copy(update={"dataset_buckets": bucket})
    asyncio.run(preflight(allowed, spec))
    with pytest.raises(UserError, match="names no object in bucket"):
        asyncio.run(
            preflight(
                allowed,
                spec.model_copy(
                    update={"dataset": spec.dataset.model_copy(update={"source": f"s3://{bucket}"})}
                ),
            )
        )


def test_the_charts_bucket_module_creates_a_bucket_in_a_region(stack):
    bucket = f"hpo-region-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "HPO_S3_ENDPOINT": stack.settings.s3_endpoint, "HPO_S3_BUCKET": bucket,
           "HPO_S3_REGION": "eu-west-1", "HPO_HOME": str(stack.home)}  # fmt: skip
    command = [sys.executable, "-m", "hpo.storage.ensure_bucket", "--wait-seconds", "30"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"bucket {bucket} created" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert f"bucket {bucket} exists" in second.stdout
    assert ObjectStore(stack.settings, bucket=bucket).list_keys("") == []


def test_a_forged_manifest_is_skipped_for_the_older_checkpoint(tmp_path, stack, tiny_model, tiny_csv):
    sweep_id = f"forged-{uuid.uuid4().hex[:6]}"
    request = SegmentRequest(
        sweep_id=sweep_id,
        trial_id="t0000",
        spec=tiny_spec(tiny_model, tiny_csv),
        params={"lr": 0.002},
        seed=0,
    )
    trial = trial_prefix(sweep_id, "t0000")
    store = ObjectStore(stack.settings)
    state = tmp_path / "state.pt"
    state.write_bytes(b"the real state")
    meta = {"sweep_id": sweep_id, "trial_id": "t0000", "params": {"lr": 0.002}}
    good = CheckpointStore(store, keep_last=5).save(trial, 10, {"state.pt": state}, meta)
    # A newer "checkpoint" whose manifest names a file outside the scratch directory, with a
    # plausible sha256. Its data object is not even stored (this S3 server refuses keys with
    # `..`; AWS stores them): the name is refused before anything is downloaded.
    evil, directory = b"* * * * * root sh -c 'evil'\n", f"{checkpoint_prefix(trial, 20)}/"
    name = "../../../../escaped-cron"
    files = {name: {"sha256": hashlib.sha256(evil).hexdigest(), "bytes": len(evil)}}
    store.put_json(directory + "manifest.json", {"step": 20, "files": files, "meta": meta})

    scratch = tmp_path / "a" / "b" / "c" / "scratch"
    scratch.mkdir(parents=True)
    key, restored, _ = TrainingActivities(stack.settings)._restore(trial, request, scratch, None)

    assert key == good
    assert restored is not None and (restored / "state.pt").read_bytes() == b"the real state"
    assert not [p for p in tmp_path.rglob("escaped-cron")]
    assert not Path("/escaped-cron").exists()
