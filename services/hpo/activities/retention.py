"""Retention activity: when a sweep ends, each trial keeps only the checkpoint it was scored on."""

from __future__ import annotations

from temporalio import activity

from hpo import stubs
from hpo.activities.base import ActivityBase
from hpo.messages import ReleaseRequest, ReleaseResult
from hpo.storage.checkpoints import trial_prefix


class RetentionActivities(ActivityBase):
    @activity.defn(name=stubs.RELEASE_CHECKPOINTS)
    def release_checkpoints(self, request: ReleaseRequest) -> ReleaseResult:
        released = 0
        for trial_id, keep in sorted(request.keep.items()):
            released += self.checkpoints.release(trial_prefix(request.sweep_id, trial_id), keep)
            activity.heartbeat(trial_id)
        return ReleaseResult(released_bytes=released)
