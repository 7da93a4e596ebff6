"""Predict activity: the task's predict hook over one checkpoint, which describes itself."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors
from hpo.contracts import stubs
from hpo.contracts.messages import PredictRequest, PredictResult
from hpo.storage.checkpoints import step_of
from hpo.tasks.registry import loaded_task
from hpo.trial import Checkpoint, TrialError


class PredictActivities(ActivityBase):
    @activity.defn(name=stubs.PREDICT)
    @fail_fast_on_permanent_errors
    def predict(self, request: PredictRequest) -> PredictResult:
        with self.scratch() as scratch:
            directory = Path(scratch) / "checkpoint"
            _, meta = self.checkpoints.load(request.checkpoint_key, directory)
            checkpoint = Checkpoint(
                directory=directory,
                step=step_of(request.checkpoint_key),
                trial_id=str(meta.get("trial_id", "")),
                params=dict(meta.get("params", {})),
                config=dict(meta.get("config", {})),
                info=dict(meta.get("info", {})),
            )
            with loaded_task(request.task, self.code_dir(request.code)) as task:
                if task.predict is None:
                    raise TrialError(
                        f"task {request.task.label} serves no predictions; give it a predict hook "
                        "(task.predict: 'module:function', called with an hpo.Checkpoint and the inputs)"
                    )
                predictions = task.predict(checkpoint, list(request.inputs))
        return PredictResult(trial_id=checkpoint.trial_id, predictions=list(predictions))
