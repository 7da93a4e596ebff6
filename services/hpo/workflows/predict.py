"""PredictWorkflow: the task's predict hook over a trial's checkpoint, on the training queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import stubs
    from hpo.contracts.messages import PredictRequest, PredictResult
    from hpo.workflows.trial import QUICK_RETRY


@workflow.defn(name="PredictWorkflow")
class PredictWorkflow:
    @workflow.run
    async def run(self, request: PredictRequest) -> PredictResult:
        return await workflow.execute_activity(
            stubs.predict,
            request,
            task_queue=request.queues.training,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=QUICK_RETRY,
        )
