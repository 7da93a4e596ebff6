"""Retention activity: when a sweep ends, each trial keeps only the checkpoint it was scored on."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hpo.activities.base import ActivityBase
from hpo.contracts import stubs
from hpo.contracts.messages import ReleaseRequest, ReleaseResult
from hpo.storage.checkpoints import UnsafeKey, trial_prefix
from hpo.storage.s3 import ObjectStore


def kept_checkpoints(store: ObjectStore, request: ReleaseRequest) -> dict[str, str]:
    """Per scored trial of a recorded sweep, the checkpoint its result came from (the record is
    streamed piece by piece: a long sweep's end must not hold its whole record in memory)."""
    from hpo.engine import trial_table
    from hpo.storage.sweep_record import SweepRecord

    record = SweepRecord(store)
    scope = request.scope or record.scope_of(request.sweep_id)
    if scope is None:
        return {}
    return trial_table.kept_checkpoints(record.events(request.sweep_id, scope))


class RetentionActivities(ActivityBase):
    @activity.defn(name=stubs.RELEASE_CHECKPOINTS)
    def release_checkpoints(self, request: ReleaseRequest) -> ReleaseResult:
        released = 0
        keep_of = kept_checkpoints(self.store, request) if request.keep_from_record else request.keep
        for trial_id, keep in sorted(keep_of.items()):
            try:
                # Only under this run's prefix: an earlier run under a reused sweep id keeps its own.
                trial = trial_prefix(request.sweep_id, trial_id, request.scope)
            except UnsafeKey as error:
                raise ApplicationError(str(error), type="UnsafeKey", non_retryable=True) from None
            released += self.checkpoints.release(trial, keep)
            activity.heartbeat(trial_id)
        return ReleaseResult(released_bytes=released)
