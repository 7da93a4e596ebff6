"""Suggest activity: one proposal of a model-based searcher, on the sweep queue.

The workflow cannot run the model (numpy/scipy/torch, and floating point that may differ between
machines), so it asks here and Temporal records the answer: replay reads the recorded proposal
and never refits. The searcher is rebuilt from the request on every call; it is stateless, so the
same request gives the same proposal (a retry after a worker crash proposes the same thing).
"""

from __future__ import annotations

import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hpo.contracts import stubs
from hpo.contracts.messages import SuggestRequest, SuggestResult


class SuggestActivities:
    @activity.defn(name=stubs.SUGGEST_CONFIGURATION)
    def suggest_configuration(self, request: SuggestRequest) -> SuggestResult:
        started = time.perf_counter()
        # Imported on first use: optuna and torch cost seconds, and a sweep worker whose sweeps
        # never ask for a model should not pay them.
        from hpo.modelsearch.proposal import propose

        observations = [(o.params, o.loss) for o in request.observations]
        try:
            params = propose(
                request.space, request.searcher, request.seed, request.index, observations, request.pending
            )
        except ValueError as error:
            # A configuration the sampler refuses, or a proposal outside the space: the searcher
            # is deterministic, so a retry would give the same answer.
            raise ApplicationError(str(error), type="InvalidSearch", non_retryable=True) from None
        return SuggestResult(params=params, seconds=time.perf_counter() - started)
