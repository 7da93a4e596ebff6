"""The one-model-in, one-model-out contracts of every workflow, activity and query.

Only pydantic + the standard library: workflows import this module.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel

from hpo.settings import SWEEP_QUEUE, TRAINING_QUEUE
from hpo.spec import DatasetSpec, ModelSpec, SweepSpec


class Queues(BaseModel):
    """Task queues travel with the request: workflows cannot read the environment."""

    training: str = TRAINING_QUEUE
    sweep: str = SWEEP_QUEUE


class SnapshotRequest(BaseModel):
    dataset: DatasetSpec
    model: ModelSpec
    max_length: int


class SnapshotRef(BaseModel):
    key: str  # prefix of the content-addressed snapshot; its manifest is `{key}/manifest.json`
    counts: dict[str, int]
    label_names: list[str]
    reused: bool = False


class TrainRequest(BaseModel):
    sweep_id: str
    trial_id: str
    snapshot: SnapshotRef
    model: ModelSpec
    params: dict[str, Any]
    seed: int
    total_steps: int  # full-fidelity length: the LR schedule is laid out over it
    target_step: int  # train until this step (a rung's fidelity, or total_steps)
    checkpoint_every: int


class TrainResult(BaseModel):
    step: int
    checkpoint_key: str  # manifest key of the checkpoint at `step`
    final_loss: float
    resumed_from_step: int
    train_seconds: float  # accelerator-seconds over all attempts, work repeated after a crash included
    examples_seen: int


class EvalRequest(BaseModel):
    checkpoint_key: str
    snapshot: SnapshotRef
    model: ModelSpec
    params: dict[str, Any]
    batch_size: int = 64


class Metrics(BaseModel):
    accuracy: float
    loss: float
    f1: float
    examples: int


class EvalResult(BaseModel):
    validation: Metrics
    test: Metrics
    seconds: float


class ReleaseRequest(BaseModel):
    """Per trial, the one checkpoint to keep (the one its result was scored on)."""

    sweep_id: str
    keep: dict[str, str]


class ReleaseResult(BaseModel):
    released_bytes: int


class PredictRequest(BaseModel):
    checkpoint_key: str
    model: ModelSpec
    params: dict[str, Any]
    label_names: list[str]
    max_length: int
    texts: list[str]
    queues: Queues = Queues()


class Prediction(BaseModel):
    text: str
    label: str
    probabilities: dict[str, float]


class PredictResult(BaseModel):
    trial_id: str
    predictions: list[Prediction]


class TrialRequest(BaseModel):
    sweep_id: str
    trial_id: str
    spec: SweepSpec
    params: dict[str, Any]
    rung: int = 0
    fidelity: int | None = None  # None: train to full fidelity
    queues: Queues = Queues()
    snapshot: SnapshotRef | None = None  # made once by the sweep; a lone trial makes its own


TrialStatus = Literal["running", "completed", "failed", "stopped"]


class TrialResult(BaseModel):
    trial_id: str
    params: dict[str, Any]
    status: TrialStatus
    rung: int = 0
    objective: float | None = None
    validation: Metrics | None = None
    test: Metrics | None = None
    train: TrainResult | None = None
    snapshot: SnapshotRef | None = None
    error: str | None = None


class SweepRequest(BaseModel):
    sweep_id: str
    spec: SweepSpec
    queues: Queues = Queues()


class SweepStatus(BaseModel):
    sweep_id: str
    name: str
    spec: SweepSpec
    state: Literal["running", "completed"]
    objective_metric: str
    mode: Literal["max", "min"]
    trials: list[TrialResult]
    best_trial_id: str | None = None
    train_seconds: float = 0.0
    # Superseded checkpoints deleted when the sweep ended (one per trial is kept).
    released_bytes: int = 0


def ranked_trials(trials: list[TrialResult], mode: str) -> list[TrialResult]:
    """Scored trials best first, then unscored ones by id.

    Trials on a higher rung of the ladder rank first: with early stopping, a value measured
    after 10 steps is not comparable with one after 1,000. (Not raw step counts: with an
    epochs budget, a smaller batch means more steps for the same data.)
    """
    sign = -1.0 if mode == "max" else 1.0
    scored = sorted(
        (t for t in trials if t.objective is not None),
        key=lambda t: (-t.rung, sign * (t.objective or 0.0), t.trial_id),
    )
    return scored + sorted((t for t in trials if t.objective is None), key=lambda t: t.trial_id)


def total_training_steps(spec: SweepSpec, batch_size: int, train_examples: int) -> int:
    """Full-fidelity length in optimizer steps, from max_steps or epochs."""
    if spec.training.max_steps is not None:
        return spec.training.max_steps
    assert spec.training.epochs is not None
    steps_per_epoch = max(1, train_examples // batch_size)
    return max(1, math.ceil(spec.training.epochs * steps_per_epoch))
