"""Releasing a finished sweep's superseded checkpoints (one activity, shared by every sweep loop)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import stubs
    from hpo.contracts.messages import ReleaseRequest, ReleaseResult, SweepRequest, TrialResult
    from hpo.workflows.trial import QUICK_RETRY


async def release_checkpoints(
    request: SweepRequest,
    trials: list[TrialResult],
    scope: str | None = None,
    *,
    keep_from_record: bool = False,
) -> int:
    """Each scored trial keeps the checkpoint its result came from (what `hpo predict` and
    a later resume read); older ones and orphaned uploads are deleted. Failed trials keep
    theirs for diagnosis. Storage is money: ASHA leaves many paused trials behind.
    Returns the bytes released (0 when the clean-up failed: the sweep's results stand)."""
    keep = {
        trial.trial_id: trial.train.checkpoint_key
        for trial in trials
        if trial.status in ("completed", "stopped") and trial.train and trial.train.checkpoint_key
    }
    if not keep and not keep_from_record:
        return 0
    try:
        released: ReleaseResult = await workflow.execute_activity(
            stubs.release_checkpoints,
            ReleaseRequest(
                sweep_id=request.sweep_id, keep=keep, scope=scope, keep_from_record=keep_from_record
            ),
            task_queue=request.queues.sweep,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=QUICK_RETRY,
        )
    except ActivityError as error:
        workflow.logger.warning("superseded checkpoints not released: %s", error.cause or error)
        return 0
    return released.released_bytes
