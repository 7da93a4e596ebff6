"""Prepare-data activity: a task reads, splits and preprocesses its dataset once per sweep."""

from __future__ import annotations

from temporalio import activity

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors, user_facing
from hpo.contracts import stubs
from hpo.contracts.messages import PrepareRequest, SnapshotRef
from hpo.tasks.registry import TaskContext, loaded_task


class PrepareActivities(ActivityBase):
    @activity.defn(name=stubs.PREPARE_DATA)
    @fail_fast_on_permanent_errors
    def prepare_data(self, request: PrepareRequest) -> SnapshotRef:
        spec = request.spec
        with loaded_task(spec.task, self.code_dir(request.code)) as task:
            if task.prepare is None:
                # A config no retry can fix: fail once, with the task's name.
                raise user_facing(f"task {spec.task.label} prepares no data", "InvalidTrialConfig")
            context = TaskContext(spec=spec, store=self.store, heartbeat=activity.heartbeat)
            snapshot = task.prepare(context)
        return SnapshotRef.model_validate(snapshot, from_attributes=True)
