"""TrialWorkflow: snapshot -> train (to a fidelity) -> evaluate -> result.

A trial never raises to its sweep: errors become a `failed` result with the reason,
so one bad configuration cannot stop the others.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hpo.messages import (
        EvalRequest,
        EvalResult,
        Queues,
        SnapshotRef,
        SnapshotRequest,
        TrainRequest,
        TrainResult,
        TrialRequest,
        TrialResult,
        total_training_steps,
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


async def ensure_snapshot(spec: SweepSpec, queues: Queues) -> SnapshotRef:
    return await workflow.execute_activity(
        "ensure_snapshot",
        SnapshotRequest(dataset=spec.dataset, model=spec.model, max_length=spec.training.max_length),
        result_type=SnapshotRef,
        task_queue=queues.training,
        start_to_close_timeout=timedelta(minutes=30),
        heartbeat_timeout=timedelta(minutes=2),
        retry_policy=QUICK_RETRY,
    )


@workflow.defn(name="TrialWorkflow")
class TrialWorkflow:
    @workflow.run
    async def run(self, request: TrialRequest) -> TrialResult:
        spec = request.spec
        result = TrialResult(
            trial_id=request.trial_id, params=request.params, status="running", rung=request.rung
        )
        try:
            snapshot = request.snapshot or await ensure_snapshot(spec, request.queues)
            result.snapshot = snapshot
            batch_size = int(request.params.get("batch_size", 32))
            total = total_training_steps(spec, batch_size, snapshot.counts["train"])
            target = min(total, request.fidelity) if request.fidelity else total
            trained: TrainResult = await workflow.execute_activity(
                "train_trial",
                TrainRequest(
                    sweep_id=request.sweep_id,
                    trial_id=request.trial_id,
                    snapshot=snapshot,
                    model=spec.model,
                    params=request.params,
                    seed=spec.seed + _trial_number(request.trial_id),
                    total_steps=total,
                    target_step=target,
                    checkpoint_every=spec.training.checkpoint_every,
                ),
                result_type=TrainResult,
                task_queue=request.queues.training,
                start_to_close_timeout=timedelta(hours=24),
                heartbeat_timeout=timedelta(seconds=spec.training.heartbeat_timeout_s),
                retry_policy=TRAIN_RETRY,
            )
            result.train = trained
            evaluated: EvalResult = await workflow.execute_activity(
                "evaluate_trial",
                EvalRequest(
                    checkpoint_key=trained.checkpoint_key,
                    snapshot=snapshot,
                    model=spec.model,
                    params=request.params,
                    batch_size=spec.training.eval_batch_size,
                ),
                result_type=EvalResult,
                task_queue=request.queues.sweep,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=QUICK_RETRY,
            )
        except ActivityError as error:
            result.status = "failed"
            result.error = _reason(error)
            workflow.logger.warning("trial %s failed: %s", request.trial_id, result.error)
            return result
        result.validation = evaluated.validation
        result.test = evaluated.test
        # The objective comes from validation only: the test split never drives selection.
        result.objective = getattr(evaluated.validation, spec.objective.metric)
        result.status = "completed"
        return result


def _trial_number(trial_id: str) -> int:
    digits = "".join(ch for ch in trial_id if ch.isdigit())
    return int(digits) if digits else 0
