"""The one-model-in, one-model-out contracts of every workflow, activity and query.

Only pydantic + the standard library: workflows import this module. Nothing here names a
task, a hyperparameter or a metric: those live in the spec and in the task's own results.
Fields are only ever added (with defaults), so recorded histories keep deserializing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from hpo.settings import SWEEP_QUEUE, TRAINING_QUEUE
from hpo.spec import SweepSpec, TaskSpec


class Queues(BaseModel):
    """Task queues travel with the request: workflows cannot read the environment."""

    training: str = TRAINING_QUEUE
    sweep: str = SWEEP_QUEUE


class CodeRef(BaseModel):
    """A user's code directory, packed once by `hpo sweep run`, content-addressed in S3."""

    key: str
    sha256: str
    bytes: int


class SnapshotRef(BaseModel):
    """Data a task prepared once per sweep (e.g. tokenized splits), content-addressed in S3."""

    key: str  # prefix of the snapshot; its manifest is `{key}/manifest.json`
    counts: dict[str, int]
    label_names: list[str] = []
    reused: bool = False


class PrepareRequest(BaseModel):
    spec: SweepSpec
    code: CodeRef | None = None


class SegmentRequest(BaseModel):
    """Train one trial from its newest checkpoint up to `target_step`, then score it."""

    sweep_id: str
    trial_id: str
    spec: SweepSpec
    params: dict[str, Any]
    seed: int
    rung: int = 0
    target_step: int | None = None  # None: the task's whole budget (e.g. training.epochs)
    max_steps: int | None = None
    code: CodeRef | None = None
    snapshot: SnapshotRef | None = None


class TrainResult(BaseModel):
    step: int
    checkpoint_key: str | None = None  # manifest key of the newest checkpoint, if the trial saved one
    resumed_from_step: int = 0
    train_seconds: float = 0.0  # accelerator-seconds over all attempts, work repeated after a crash included
    metrics: dict[str, float] = {}  # the last trial.report() of the segment (e.g. the final training loss)


class SegmentResult(BaseModel):
    train: TrainResult
    validation: dict[str, float]
    test: dict[str, float] = {}
    objective: float


class ReleaseRequest(BaseModel):
    """Per trial, the one checkpoint to keep (the one its result was scored on)."""

    sweep_id: str
    keep: dict[str, str]


class ReleaseResult(BaseModel):
    released_bytes: int


class PredictRequest(BaseModel):
    checkpoint_key: str
    task: TaskSpec
    inputs: list[Any]
    code: CodeRef | None = None
    queues: Queues = Queues()


class PredictResult(BaseModel):
    trial_id: str
    # One per input, as the task's predict hook returns it (text: label and probabilities).
    predictions: list[Any]


class TrialRequest(BaseModel):
    sweep_id: str
    trial_id: str
    spec: SweepSpec
    params: dict[str, Any]
    rung: int = 0
    fidelity: int | None = None  # None: train to full fidelity
    queues: Queues = Queues()
    snapshot: SnapshotRef | None = None  # prepared once by the sweep
    code: CodeRef | None = None


TrialStatus = Literal["running", "completed", "failed", "stopped"]


class SegmentRecord(BaseModel):
    """One segment of a trial as the sweep saw it: when it ran, to which rung, what it scored."""

    rung: int
    started_at: float  # unix seconds (the workflow's deterministic clock)
    finished_at: float | None = None
    target_step: int | None = None
    step: int | None = None
    objective: float | None = None
    status: TrialStatus = "running"
    train_seconds: float = 0.0


class TrialResult(BaseModel):
    trial_id: str
    params: dict[str, Any]
    status: TrialStatus
    rung: int = 0
    objective: float | None = None
    validation: dict[str, float] | None = None
    test: dict[str, float] | None = None
    train: TrainResult | None = None
    snapshot: SnapshotRef | None = None
    error: str | None = None
    # Every segment so far, oldest first (kept by the sweep: the ladder over time).
    segments: list[SegmentRecord] = []


class SweepRequest(BaseModel):
    sweep_id: str
    spec: SweepSpec
    queues: Queues = Queues()
    code: CodeRef | None = None
    # The server has hpo's search attributes registered (hpo.search_attributes): tag the
    # sweep's trials and its end state so the Web UI can filter them.
    search_attributes: bool = False


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
    code: CodeRef | None = None

    def leaderboard(self) -> list[TrialResult]:
        """Trials best first (see ranked_trials)."""
        return ranked_trials(self.trials, self.mode)

    @property
    def best(self) -> TrialResult | None:
        return next((t for t in self.trials if t.trial_id == self.best_trial_id), None)


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
