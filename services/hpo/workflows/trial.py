"""TrialWorkflow: one segment of one trial (prepared data -> train to a fidelity -> scored).

The task trains and scores in one activity on the training queue, through the trial API:
this workflow never names a task, a hyperparameter or a metric. A trial never raises to
its sweep: errors become a `failed` result with the reason, so one bad configuration
cannot stop the others.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import stubs
    from hpo.contracts.messages import (
        CodeRef,
        PrepareRequest,
        Queues,
        RecordBatch,
        SegmentRecord,
        SegmentRequest,
        SegmentResult,
        SnapshotRef,
        TrainResult,
        TrialEvent,
        TrialRequest,
        TrialResult,
    )
    from hpo.contracts.segment_details import SegmentDetails
    from hpo.contracts.segment_outcome import PREEMPTED, RESULT_SIGNAL, STOPPED
    from hpo.contracts.spec import SweepSpec
    from hpo.engine.targets import segment_target
    from hpo.engine.trial_table import ended_segment

# Most retries follow a dead worker (a crash, a lost node), not a bug: back off briefly and
# never long, so a killed worker's segment trains again within seconds (the heartbeat timeout
# plus at most 10 s). Errors no retry can fix are non-retryable and never wait at all.
TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
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


@workflow.defn(name="TrialWorkflow")
class TrialWorkflow:
    @workflow.run
    async def run(self, request: TrialRequest) -> TrialResult:
        # Trials of a steerable sweep (it sets report_to) treat preemption apart from failure,
        # can be stopped gracefully, and report by signal; older sweeps' trials run as before.
        if request.report_to is not None:
            result = await self._steerable_segment(request)
            reported = await _report(request.report_to, result)
            if not reported and request.recorded:
                await _record_orphan(request, result)
            return result
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
                segment_request(request, snapshot),
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
        return _completed(result, segment)

    async def _steerable_segment(self, request: TrialRequest) -> TrialResult:
        spec = request.spec
        result = TrialResult(
            trial_id=request.trial_id, params=request.params, status="running", rung=request.rung
        )
        previous: dict | None = None
        preemptions = 0
        try:
            if request.snapshot is None and spec.task.info.prepares_data:
                request = request.model_copy(
                    update={"snapshot": await prepare_data(spec, request.queues, request.code)}
                )
            result.snapshot = request.snapshot
            while True:
                try:
                    segment = await self._segment(request, previous)
                    break
                except ActivityError as error:
                    cause = error.cause
                    if not isinstance(cause, ApplicationError) or cause.type != PREEMPTED:
                        raise
                    # The worker stopped (SIGTERM, drain, scale-in) after checkpointing: start
                    # the segment again elsewhere, without spending a retry.
                    preemptions += 1
                    previous = cause.details[0] if cause.details else None
                    if preemptions > spec.training.max_preemptions:
                        raise ApplicationError(
                            f"trial {request.trial_id} was preempted {preemptions} times, over "
                            f"training.max_preemptions ({spec.training.max_preemptions})",
                            type="TooManyPreemptions",
                        ) from error
                    workflow.logger.info(
                        "trial %s preempted (%d); starting it again", request.trial_id, preemptions
                    )
        except (ActivityError, ApplicationError, asyncio.CancelledError, CancelledError) as error:
            return _ended_early(result, error)
        return _completed(result, segment)

    async def _segment(self, request: TrialRequest, previous: dict | None) -> SegmentResult:
        spec = request.spec
        return await workflow.execute_activity(
            stubs.train_segment,
            segment_request(
                request,
                request.snapshot,
                scope=request.scope,
                previous=previous,
                preemptible=True,
                watch_sweep=request.recorded,
            ),
            task_queue=request.queues.training,
            start_to_close_timeout=timedelta(hours=24),
            heartbeat_timeout=timedelta(seconds=spec.training.heartbeat_timeout_s),
            retry_policy=RetryPolicy(
                initial_interval=TRAIN_RETRY.initial_interval,
                backoff_coefficient=TRAIN_RETRY.backoff_coefficient,
                maximum_interval=TRAIN_RETRY.maximum_interval,
                maximum_attempts=spec.training.max_retries + 1,
            ),
            # A stop (the sweep's stop, cancel-trial, a budget) waits for the segment to
            # checkpoint and end, and learns what it spent.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )


def _completed(result: TrialResult, segment: SegmentResult) -> TrialResult:
    result.train = segment.train
    # The objective comes from validation only: the test split never drives selection.
    result.validation = segment.validation
    result.test = segment.test
    result.objective = segment.objective
    result.status = "completed"
    return result


def _ended_early(result: TrialResult, error: BaseException) -> TrialResult:
    """A segment that did not complete: stopped by the sweep (with what it spent), or failed."""
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    if isinstance(cause, ApplicationError) and cause.type == STOPPED:
        details = cause.details[0] if cause.details else {}
        result.status = "stopped"
        result.train = _spent(details)
        result.error = cause.message
        return result
    if isinstance(cause, (asyncio.CancelledError, CancelledError)):
        result.status = "stopped"
        result.error = "stopped before the segment could report what it spent"
        return result
    result.status = "failed"
    result.error = _reason(error)
    result.train = spent_on_failure(cause)
    workflow.logger.warning("trial %s failed: %s", result.trial_id, result.error)
    return result


def spent_on_failure(cause: BaseException) -> TrainResult | None:
    """What a failed segment spent, when its error says (a hang's does): paid for in the ledger
    too. Its checkpoints go when the sweep ends: there is nothing to serve from a failed segment."""
    raw = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else None
    if not isinstance(raw, dict) or "seconds" not in raw:
        return None
    return _spent(raw).model_copy(update={"checkpoint_key": None})


def _spent(raw: object) -> TrainResult:
    """What a stopped (or failed) segment measured, from its final details."""
    details = SegmentDetails.read(raw) or SegmentDetails()
    return TrainResult(
        step=details.step or 0,
        checkpoint_key=details.checkpoint_key,
        resumed_from_step=details.segment_start_step,
        start_step=details.segment_start_step,
        train_seconds=details.seconds,
        lost_seconds=details.lost_seconds,
        retried_steps_saved=details.retried_steps_saved,
        redone_steps=details.redone_steps,
        attempts=details.attempts + 1,
        preemptions=details.preemptions,
        retries=max(details.attempts - details.preemptions, 0),
        accelerators=details.accelerators,
    )


async def _report(sweep_id: str, result: TrialResult) -> bool:
    """Hand the result to whichever run of the sweep is current (it may have continued-as-new);
    False when there is none."""
    try:
        await workflow.get_external_workflow_handle(sweep_id).signal(RESULT_SIGNAL, result)
    except Exception as error:  # the sweep has ended (failed, terminated): nobody to tell
        workflow.logger.warning("could not report %s to sweep %s: %s", result.trial_id, sweep_id, error)
        return False
    return True


async def _record_orphan(request: TrialRequest, result: TrialResult) -> None:
    """The sweep ended before this segment did: the segment writes how it ended to the sweep's
    record itself (a piece of its own, read after the sweep's pieces)."""
    if request.scope is None:
        return
    opened = SegmentRecord(
        rung=request.rung, started_at=workflow.info().start_time.timestamp(), target_step=request.fidelity
    )
    event = TrialEvent(
        trial_id=request.trial_id,
        status=result.status,
        params=request.params,
        segment=ended_segment(opened, result, workflow.now().timestamp()),
        result=result,
    )
    batch = RecordBatch(
        sweep_id=request.sweep_id,
        scope=request.scope,
        seq=0,
        events=[event],
        orphan=f"orphan-{request.trial_id}-r{request.rung}",
    )
    try:
        await workflow.execute_activity(
            stubs.write_record,
            batch,
            task_queue=request.queues.sweep,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=QUICK_RETRY,
        )
    except ActivityError as error:
        workflow.logger.warning("could not record how %s ended: %s", request.trial_id, error.cause or error)


def segment_request(request: TrialRequest, snapshot: SnapshotRef | None, **extra: Any) -> SegmentRequest:
    """The training activity's request for this trial's segment."""
    spec = request.spec
    return SegmentRequest(
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
        **extra,
    )


def _trial_number(trial_id: str) -> int:
    digits = "".join(ch for ch in trial_id if ch.isdigit())
    return int(digits) if digits else 0
