"""Proposals of model-based searchers, fetched from the suggest activity and recorded in history.

A GP's maths (numpy/torch) cannot run in the workflow, and its floating point may differ between
the machine that recorded a sweep and the one replaying it. The workflow asks the suggest activity
on the sweep queue instead; replay reads the recorded answer and never refits the model.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import stubs
    from hpo.contracts.messages import SuggestObservation, SuggestRequest, SuggestResult
    from hpo.search.recorded import ProposalRequest

# A GP fit over a few hundred observations takes seconds; minutes means a stuck worker.
SUGGEST_TIMEOUT = timedelta(minutes=5)
# A worker lost mid-fit is retried; a configuration the sampler refuses is not (InvalidSearch).
SUGGEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["InvalidSearch"],
)


async def fetch_proposal(request: ProposalRequest, sweep_id: str, queue: str) -> dict[str, Any]:
    """The configuration the model-based searcher proposes for ``request``; the sweep fails if
    the activity does (a searcher that cannot propose cannot go on)."""
    try:
        result: SuggestResult = await workflow.execute_activity(
            stubs.suggest_configuration,
            SuggestRequest(
                sweep_id=sweep_id,
                index=request.index,
                seed=request.seed,
                space=request.space,
                searcher=request.searcher,
                observations=[SuggestObservation(params=p, loss=loss) for p, loss in request.observations],
                pending=request.pending,
            ),
            task_queue=queue,
            start_to_close_timeout=SUGGEST_TIMEOUT,
            retry_policy=SUGGEST_RETRY,
        )
    except ActivityError as error:
        cause = error.cause if error.cause is not None else error
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise ApplicationError(
            f"search: proposal {request.index}: {message}", type="InvalidSearch", non_retryable=True
        ) from None
    return result.params
