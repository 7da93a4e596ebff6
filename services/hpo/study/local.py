"""Search in your own process: every model-based proposal a scheduler call needs, computed
here (with optuna, through hpo.modelsearch) as the sweep's suggest activity would compute it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hpo.modelsearch.proposal import answer
from hpo.search.recorded import ProposalNeeded, ProposalRequest, RecordedSearcher
from hpo.search.searcher import Searcher

T = TypeVar("T")


def with_proposals(searcher: Searcher, method: Callable[..., T], *args: Any) -> T:
    """``method(*args)`` (a scheduler call) outside a workflow, each model-based proposal it needs
    computed in this process as the suggest activity would (this imports optuna: never call it
    inside a workflow).

    The synchronous twin of the workflow's loop (steering's ``_fetch_proposals``, which awaits the
    suggest activity instead): call, and on ProposalNeeded offer the answer and call again with the
    same arguments. The ask/tell façade and ``simulate`` use it, so a user's loop and a benchmark
    drive gp/optuna searchers, alone or under asha and hyperband, exactly as a sweep does.
    """
    asked: ProposalRequest | None = None
    while True:
        try:
            result = method(*args)
        except ProposalNeeded as needed:
            if not isinstance(searcher, RecordedSearcher) or needed.request == asked:
                raise AssertionError(
                    f"search: proposal {needed.request.index} was offered but not taken"
                ) from None
            asked = needed.request
            searcher.offer(asked, answer(asked))
            continue
        if isinstance(searcher, RecordedSearcher):
            searcher.drop_offers()
        return result
