"""The trial table as the fold of a sweep's trial events (pure).

The engine never keeps finished trials: it emits one TrialEvent per change (a segment ended, a
trial was stopped or cancelled) and the record stores them in order. Every reader rebuilds the
table with the same fold, so a sweep read from its live workflow and one read from its record
alone show the same trials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hpo.contracts.messages import (
    SegmentRecord,
    SweepStatus,
    TrainResult,
    TrialEvent,
    TrialResult,
    ranked_trials,
)

# Fields a segment's result sets on its trial (a failed or stopped promotion keeps the lower rung's).
RESULT_FIELDS = ("status", "rung", "objective", "validation", "test", "train", "snapshot", "error")


def ended_segment(open_segment: SegmentRecord, result: TrialResult, now: float) -> SegmentRecord:
    """The open segment closed with what its result measured."""
    segment = open_segment.model_copy()
    segment.finished_at = now
    segment.status = result.status
    segment.objective = result.objective if result.status == "completed" else None
    train = result.train
    if train is not None:
        segment.step = train.step
        segment.train_seconds = train.train_seconds
        segment.resumed_from_step = (
            train.start_step if train.start_step is not None else train.resumed_from_step
        )
        segment.lost_seconds = train.lost_seconds
        segment.redone_steps = train.redone_steps
        segment.retried_steps_saved = train.retried_steps_saved
        segment.accelerators = train.accelerators
        segment.price_per_hour = train.price_per_hour
        segment.currency = train.currency
    return segment


def merge_result(trial: TrialResult, result: TrialResult) -> None:
    """A segment's result merged into its trial."""
    train: TrainResult | None = result.train
    if train is not None:
        trial.preemptions += train.preemptions
        trial.retries += train.retries
    if result.status != "completed" and trial.objective is not None:
        # A failed or stopped promotion keeps what the lower rung measured.
        trial.status = result.status
        trial.error = result.error
        return
    for field in RESULT_FIELDS:
        setattr(trial, field, getattr(result, field))


def apply_event(trials: dict[str, TrialResult], event: TrialEvent) -> None:
    trial = trials.get(event.trial_id)
    if trial is None:
        trial = TrialResult(trial_id=event.trial_id, params=dict(event.params or {}), status=event.status)
        trials[event.trial_id] = trial
    if event.segment is not None:
        trial.segments.append(event.segment)
    if event.result is not None:
        merge_result(trial, event.result)
    trial.status = event.status


def fold(events: Iterable[TrialEvent]) -> dict[str, TrialResult]:
    trials: dict[str, TrialResult] = {}
    for event in events:
        apply_event(trials, event)
    return trials


def kept_checkpoints(events: Iterable[TrialEvent]) -> dict[str, str]:
    """Per trial that ended scored (completed or stopped), the checkpoint its result came from.

    The same rule as `fold` (each event goes through apply_event), but a trial is kept between
    events as three fields, not as its table row: a sweep's end reads its whole record through
    this, and memory should grow by a key per trial, not by every segment and metric."""
    kept: dict[str, tuple[str, float | None, str | None]] = {}
    for event in events:
        status, objective, key = kept.get(event.trial_id, (event.status, None, None))
        shell = TrialResult(
            trial_id=event.trial_id,
            params={},
            status=status,
            objective=objective,
            train=TrainResult(step=0, checkpoint_key=key) if key else None,
        )
        one = {event.trial_id: shell}
        apply_event(one, event)
        trial = one[event.trial_id]
        kept[event.trial_id] = (
            trial.status,
            trial.objective,
            trial.train.checkpoint_key if trial.train else None,
        )
    return {
        trial_id: key
        for trial_id, (status, _, key) in kept.items()
        if status in ("completed", "stopped") and key
    }


def with_running(trials: dict[str, TrialResult], running: Iterable[TrialResult]) -> dict[str, TrialResult]:
    """The table with the segments in flight laid over it. Only open segments count: a live
    sweep's `trials` also carry the finished trials its engine keeps, whose segments are the
    record's events already (laid over them again they would count twice)."""
    table = dict(trials)
    for live in running:
        open_segments = [s for s in live.segments if s.finished_at is None]
        if not open_segments:
            continue
        trial = table.get(live.trial_id)
        if trial is None:
            table[live.trial_id] = live.model_copy(update={"segments": open_segments}, deep=True)
            continue
        trial = trial.model_copy(update={"segments": [*trial.segments, *open_segments]})
        trial.status = live.status
        trial.rung = live.rung
        table[live.trial_id] = trial
    return table


def full_status(status: SweepStatus, recorded: Iterable[TrialEvent]) -> SweepStatus:
    """A recorded sweep's status with its whole trial table: the record's events, then the ones
    the sweep had not written yet, then its running segments. The money ledger, the counts and
    the leader are recomputed over the whole table, the same way for a live sweep and a record."""
    from hpo.engine import ledger

    trials = fold([*recorded, *status.unrecorded])
    everything = list(with_running(trials, status.trials).values())
    ranked = ranked_trials(everything, status.mode)
    best = ranked[0] if ranked and ranked[0].objective is not None else None
    try:
        money = ledger.summarize(everything, status.spec)
    except Exception:  # a status must show even when the ledger cannot be drawn
        money = None
    return status.model_copy(
        update={
            "trials": sorted(everything, key=lambda trial: trial.trial_id),
            "best_trial_id": best.trial_id if best else None,
            "money": money,
            "counts": dict(Counter(t.status for t in everything)),
            "trials_total": len(everything),
            "unrecorded": [],
            "train_seconds": sum(s.train_seconds for t in everything for s in t.segments),
        }
    )
