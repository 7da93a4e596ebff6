"""TrialWorkflow: one segment of one trial (prepared data -> train to a fidelity -> scored).

The task trains and scores in one activity on the training queue, through the trial API:
this workflow never names a task, a hyperparameter or a metric. A trial never raises to
its sweep: errors become a `failed` result with the reason, so one bad configuration
cannot stop the others.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hpo import stubs
    from hpo.messages import (
        CodeRef,
        PrepareRequest,
        Queues,
        SegmentRequest,
        SegmentResult,
        SnapshotRef,
        TrialRequest,
        TrialResult,
    )
    from hpo.spec import SweepSpec

TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
QUICK_RETRY = RetryPolicy(maximum_attempts=4, initial_interval=timedelta(seconds=1))


def _reason(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause)


async def prepare_data(spec: SweepSpec, queues: Queues, code: CodeRef | None) -> SnapshotRef:
    return await workflow.execute_activity(
        stubs.prepare_data,
        PrepareRequest(spec=spec, code=code),
        task_queue=queues.training,
        start_to_close_timeout=timedelta(minutes=30),
        heartbeat_timeout=timedelta(minutes=2),
        retry_policy=QUICK_RETRY,
    )


def segment_target(spec: SweepSpec, fidelity: int | None) -> int | None:
    """Where this segment ends: its rung's fidelity, else the budget in steps, else None (the
    task trains its whole budget, e.g. training.epochs, which only the task can count)."""
    budget = spec.training.max_steps
    if fidelity is None:
        return budget
    return min(fidelity, budget) if budget is not None else fidelity


@workflow.defn(name="TrialWorkflow")
class TrialWorkflow:
    @workflow.run
    async def run(self, request: TrialRequest) -> TrialResult:
        spec = request.spec
        result = TrialResult(
            trial_id=request.trial_id, params=request.params, status="running", rung=request.rung
        )
        try:
            snapshot = request.snapshot
            if snapshot is None and spec.task.info.prepares_data:
                snapshot = await prepare_data(spec, request.queues, request.code)
            result.snapshot = snapshot
            segment: SegmentResult = await workflow.execute_activity(
                stubs.train_segment,
                SegmentRequest(
                    sweep_id=request.sweep_id,
                    trial_id=request.trial_id,
                    spec=spec,
                    params=request.params,
                    seed=spec.seed + _trial_number(request.trial_id),
                    rung=request.rung,
                    target_step=segment_target(spec, request.fidelity),
                    max_steps=spec.training.max_steps,
                    code=request.code,
                    snapshot=snapshot,
                ),
                task_queue=request.queues.training,
                start_to_close_timeout=timedelta(hours=24),
                heartbeat_timeout=timedelta(seconds=spec.training.heartbeat_timeout_s),
                retry_policy=TRAIN_RETRY,
            )
        except ActivityError as error:
            result.status = "failed"
            result.error = _reason(error)
            workflow.logger.warning("trial %s failed: %s", request.trial_id, result.error)
            return result
        result.train = segment.train
        # The objective comes from validation only: the test split never drives selection.
        result.validation = segment.validation
        result.test = segment.test
        result.objective = segment.objective
        result.status = "completed"
        return result


def _trial_number(trial_id: str) -> int:
    digits = "".join(ch for ch in trial_id if ch.isdigit())
    return int(digits) if digits else 0
