"""The one-model-in, one-model-out contracts of every workflow, activity and query.

Only pydantic + the standard library: workflows import this module. Nothing here names a
task, a hyperparameter or a metric: those live in the spec and in the task's own results.
Fields are only ever added (with defaults), so recorded histories keep deserializing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from hpo.contracts.settings import SWEEP_QUEUE, TRAINING_QUEUE
from hpo.contracts.spec import SweepSpec, TaskSpec


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
    # Storage scope of this run of the sweep (its first run id): checkpoints of another run
    # under a reused sweep id are never read or deleted. None: the layout before scopes.
    scope: str | None = None
    # What the previous execution of this segment left when its worker was preempted (its
    # final heartbeat details): the next execution resumes and keeps counting from there.
    previous: dict[str, Any] | None = None
    # The trial workflow restarts a preempted segment itself (no retry spent): the activity
    # then ends a preempted execution with a non-retryable WorkerShutdown carrying its details.
    preemptible: bool = False
    # The trial's sweep has a record (hpo.engine): the activity stops the segment (checkpointing)
    # once the sweep's workflow has ended, so no trial outlives its sweep.
    watch_sweep: bool = False


class TrainResult(BaseModel):
    step: int
    checkpoint_key: str | None = None  # manifest key of the newest checkpoint, if the trial saved one
    resumed_from_step: int = 0
    train_seconds: float = 0.0  # accelerator-seconds over all attempts, work repeated after a crash included
    metrics: dict[str, float] = {}  # the last trial.report() of the segment (e.g. the final training loss)
    # The money ledger's inputs, measured on the worker (see hpo.engine.ledger for the definitions).
    # Where the segment's first execution started (resumed_from_step is the last execution's
    # resume point, later after a crash or a preemption); None from workers before the ledger.
    start_step: int | None = None
    accelerators: float = 1.0  # accelerators the segment held (GPUs; 1 on a CPU worker)
    price_per_hour: float | None = None  # the worker pool's price per accelerator-hour, if it has one
    currency: str | None = None
    lost_seconds: float = 0.0  # accelerator-seconds of work thrown away by crashes and preemptions
    retried_steps_saved: int = 0  # steps a retried attempt did not retrain thanks to a checkpoint
    # Steps trained again after a crash, a hang or a preemption: what an earlier execution had
    # reached past the checkpoint the next one resumed from (their seconds are in lost_seconds).
    redone_steps: int = 0
    attempts: int = 1  # executions of this segment (retries and preemptions included)
    preemptions: int = 0
    retries: int = 0  # attempts spent on real failures


class SegmentResult(BaseModel):
    train: TrainResult
    validation: dict[str, float]
    test: dict[str, float] = {}
    objective: float


class ReleaseRequest(BaseModel):
    """Per trial, the one checkpoint to keep (the one its result was scored on)."""

    sweep_id: str
    keep: dict[str, str]
    scope: str | None = None
    # Sweeps with a record: the activity reads which checkpoint each trial keeps from it
    # (`keep` would grow with the trials, past what one payload may carry).
    keep_from_record: bool = False


class ReleaseResult(BaseModel):
    released_bytes: int


class SuggestObservation(BaseModel):
    params: dict[str, Any]
    #: Lower is better: the scheduler has applied the objective's mode already.
    loss: float


class SuggestRequest(BaseModel):
    """One proposal of a model-based searcher (search/recorded.py's ProposalRequest)."""

    sweep_id: str
    index: int
    seed: int
    #: The space in the spec's form (Space.to_dict), so the activity needs no SweepSpec.
    space: dict[str, dict[str, Any]]
    #: RecordedSearcher.config(): name, sampler, options, max_observations.
    searcher: dict[str, Any]
    observations: list[SuggestObservation] = []
    pending: list[dict[str, Any]] = []


class SuggestResult(BaseModel):
    #: JSON keeps each value's type: ints stay ints, a categorical's choice keeps its Python value.
    params: dict[str, Any]
    #: The activity's own time, for the record (the model fit dominates it).
    seconds: float = 0.0


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


def trial_workflow_id(sweep_id: str, trial_id: str, rung: int) -> str:
    """The workflow id of one segment of a trial (a rung): the sweep starts it under this id,
    and whoever follows, cancels or describes that segment finds it by the same id."""
    return f"{sweep_id}.{trial_id}.r{rung}"


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
    scope: str | None = None
    # Set by sweeps that continue-as-new: the trial signals its result to this workflow id
    # (whichever run of the sweep is current) instead of the sweep awaiting the child.
    report_to: str | None = None
    # Sweeps with a record (hpo.engine): a trial whose sweep has ended writes how it ended to
    # the record itself, and its training activity stops once the sweep is gone.
    recorded: bool = False


TrialStatus = Literal["running", "completed", "failed", "stopped", "cancelled"]


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
    # The ledger's inputs, copied from the segment's TrainResult when it ends.
    resumed_from_step: int = 0
    lost_seconds: float = 0.0
    retried_steps_saved: int = 0
    accelerators: float = 1.0
    price_per_hour: float | None = None
    currency: str | None = None
    redone_steps: int = 0


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
    preemptions: int = 0
    retries: int = 0


class TrialEvent(BaseModel):
    """One change to one trial, as the sweep's record keeps it (hpo.engine.trial_table folds
    them into the trial table). Append-only: a trial is the fold of its events, oldest first."""

    trial_id: str
    status: TrialStatus  # the trial's status after this event
    params: dict[str, Any] | None = None  # the first event of a trial carries its params
    segment: SegmentRecord | None = None  # a segment that ended
    result: TrialResult | None = None  # what that segment returned, merged into the trial


class PriorTrial(BaseModel):
    """A finished trial of an earlier sweep that seeds the searcher (warm start)."""

    params: dict[str, Any]
    value: float  # the objective as reported (the scheduler applies the mode)
    source: str  # "SWEEP_ID/TRIAL_ID"


class SweepRequest(BaseModel):
    sweep_id: str
    spec: SweepSpec
    queues: Queues = Queues()
    code: CodeRef | None = None
    # The server has hpo's search attributes registered (hpo.contracts.search_attributes): tag the
    # sweep's trials and its end state so the Web UI can filter them.
    search_attributes: bool = False
    warm_start: list[PriorTrial] = []
    # Continue-as-new once the history holds this many events (None: the server's suggestion,
    # or hpo's default); tests set it low.
    continue_as_new_after: int | None = None
    # The compact state of the previous run (zlib-compressed JSON in base64: payloads are
    # JSON, raw bytes do not survive them), set on continue-as-new.
    carried: str | None = None
    # `hpo sweep extend` of a finished sweep: its recorded state (`carried`) goes on with these
    # limits (an `extend` ControlRequest), under the same id and storage scope.
    extend: ControlRequest | None = None


class SweepStart(BaseModel):
    """What the record keeps of a sweep's start (``sweep.json``): enough to read it back,
    extend it, and tell which code archive and snapshot it uses."""

    sweep_id: str
    scope: str
    request: SweepRequest
    snapshot: SnapshotRef | None = None
    started_at: float


class RecordBatch(BaseModel):
    """One append-only piece of a sweep's record (``events/{seq:09d}.json``). Written by an
    activity, idempotently: a retried write puts the same bytes under the same key."""

    sweep_id: str
    scope: str
    seq: int
    events: list[TrialEvent] = []
    start: SweepStart | None = None  # the first piece: sweep.json is written from it
    # The sweep's own status (state, totals, stop reason) where it changed: at its start,
    # when it continues-as-new, when it ends.
    status: SweepStatus | None = None
    # The engine's compact state when the sweep ended: `hpo sweep extend` continues from it.
    carried: str | None = None
    # Written by a trial whose sweep had already ended (terminated, failed): its own key.
    orphan: str | None = None


class RecordWritten(BaseModel):
    key: str
    bytes: int


ControlAction = Literal["pause", "resume", "stop", "cancel_trial", "extend"]


class ControlRequest(BaseModel):
    """One steering command for a running sweep (the `control` update)."""

    action: ControlAction
    trial_id: str | None = None  # cancel_trial
    # extend: any of these, each only upwards except max_concurrent (>= 1).
    trials: int | None = None
    max_cost: float | None = None
    max_accelerator_hours: float | None = None
    max_wall_time: float | None = None  # seconds
    max_concurrent: int | None = None
    reason: str | None = None


class ControlResult(BaseModel):
    action: ControlAction
    state: str  # the sweep's state after the command
    message: str


class Money(BaseModel):
    """The money ledger of a sweep (hpo.engine.ledger computes it; see there for the definitions)."""

    currency: str | None = None  # None: no price known, amounts are accelerator-hours only
    price_per_hour: float | None = None
    accelerator_hours: float = 0.0
    spent: float = 0.0
    lost_to_faults: float = 0.0  # part of spent: work crashes and preemptions threw away
    full_fidelity: float = 0.0  # every trial trained to the full budget, once, from step 0
    saved_by_early_stopping: float = 0.0
    saved_by_resuming: float = 0.0  # promotions and retries from checkpoints instead of step 0
    redone_steps: int = 0  # steps trained again after crashes, hangs and preemptions (their cost is lost)
    # spent - lost_to_faults + saved_by_early_stopping == full_fidelity (the ledger's identity)


class SweepStatus(BaseModel):
    sweep_id: str
    name: str
    spec: SweepSpec
    # paused: starts nothing new; stopping: running segments are checkpointing and ending;
    # stopped: ended early (stop, a budget) with what it had; failed: see stop_reason.
    state: Literal["running", "paused", "stopping", "completed", "stopped", "failed"]
    objective_metric: str
    mode: Literal["max", "min"]
    trials: list[TrialResult]
    best_trial_id: str | None = None
    train_seconds: float = 0.0
    # Superseded checkpoints deleted when the sweep ended (one per trial is kept).
    released_bytes: int = 0
    code: CodeRef | None = None
    stop_reason: str | None = None
    money: Money | None = None
    # Counts over every trial; `trials` holds them all unless the sweep is large, then the
    # running ones and the top of the leaderboard (trials_total says how many there are).
    counts: dict[str, int] = {}
    trials_total: int = 0
    trials_planned: int = 0
    max_concurrent: int = 0
    scope: str | None = None
    runs: int = 1  # runs of the sweep workflow (continue-as-new)
    # Sweeps with a record (hpo.engine): `trials` holds only the running ones, the rest is in
    # the record; readers fold the record and then these events, not yet written to it.
    recorded: bool = False
    unrecorded: list[TrialEvent] = []
    # The record's pieces before this one hold everything up to `unrecorded` (a piece being
    # written while the sweep answered may hold some of those events too: readers skip it).
    record_seq: int = 0

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


RecordBatch.model_rebuild()
SweepRequest.model_rebuild()
SweepStart.model_rebuild()
