"""Retention activity: when a sweep ends, each trial keeps only the checkpoint it was scored on."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hpo import stubs
from hpo.activities.base import ActivityBase
from hpo.messages import ReleaseRequest, ReleaseResult
from hpo.storage.checkpoints import UnsafeKey, trial_prefix


class RetentionActivities(ActivityBase):
    @activity.defn(name=stubs.RELEASE_CHECKPOINTS)
    def release_checkpoints(self, request: ReleaseRequest) -> ReleaseResult:
        released = 0
        for trial_id, keep in sorted(request.keep.items()):
            try:
                # Only under this run's prefix: an earlier run under a reused sweep id keeps its own.
                trial = trial_prefix(request.sweep_id, trial_id, request.scope)
            except UnsafeKey as error:
                raise ApplicationError(str(error), type="UnsafeKey", non_retryable=True) from None
            released += self.checkpoints.release(trial, keep)
            activity.heartbeat(trial_id)
        return ReleaseResult(released_bytes=released)
