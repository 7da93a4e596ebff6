"""Typed handles of every activity, for workflows to call by reference instead of by string.

Workflows may not import the implementations (torch, boto3), so each activity is declared
here with its name and its one request and one result model; the real implementation is
registered under the same name by a worker (see hpo.activities). A renamed or retyped
activity then fails type checks and the contract tests, not a running sweep.
"""

from __future__ import annotations

from temporalio import activity

from hpo.contracts.messages import (
    PredictRequest,
    PredictResult,
    PrepareRequest,
    RecordBatch,
    RecordWritten,
    ReleaseRequest,
    ReleaseResult,
    SegmentRequest,
    SegmentResult,
    SnapshotRef,
    SuggestRequest,
    SuggestResult,
)

PREPARE_DATA = "prepare_data"
TRAIN_SEGMENT = "train_segment"
RELEASE_CHECKPOINTS = "release_checkpoints"
PREDICT = "predict"
SUGGEST_CONFIGURATION = "suggest_configuration"
WRITE_RECORD = "write_record"
# Sweeps recorded before the task API prepared their data under this name.
ENSURE_SNAPSHOT_V1 = "ensure_snapshot"


@activity.defn(name=PREPARE_DATA)
def prepare_data(request: PrepareRequest) -> SnapshotRef:
    """Training queue: read, split and preprocess the task's dataset once per sweep."""
    raise NotImplementedError


@activity.defn(name=ENSURE_SNAPSHOT_V1)
def ensure_snapshot_v1(request: PrepareRequest) -> SnapshotRef:
    """Only replayed: what sweeps started before the task API scheduled."""
    raise NotImplementedError


@activity.defn(name=TRAIN_SEGMENT)
def train_segment(request: SegmentRequest) -> SegmentResult:
    """Training queue: one segment of one trial, from its newest checkpoint, then scored."""
    raise NotImplementedError


@activity.defn(name=RELEASE_CHECKPOINTS)
def release_checkpoints(request: ReleaseRequest) -> ReleaseResult:
    """Sweep queue: each finished trial keeps only the checkpoint it was scored on."""
    raise NotImplementedError


@activity.defn(name=PREDICT)
def predict(request: PredictRequest) -> PredictResult:
    """Training queue: the task's predict hook over a trial's checkpoint."""
    raise NotImplementedError


@activity.defn(name=SUGGEST_CONFIGURATION)
def suggest_configuration(request: SuggestRequest) -> SuggestResult:
    """Sweep queue: one proposal of a model-based searcher (GP, Optuna), recorded in history."""
    raise NotImplementedError


@activity.defn(name=WRITE_RECORD)
def write_record(batch: RecordBatch) -> RecordWritten:
    """Sweep queue: one piece of the sweep's record in S3 (hpo.storage.sweep_record)."""
    raise NotImplementedError
