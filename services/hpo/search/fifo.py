"""FIFO: every trial trains once, at full fidelity, in the order the searcher proposes them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .actions import Action
from .scheduler import Job, Scheduler
from .state import SchedulerState, TrialRecord


class FIFOScheduler(Scheduler[SchedulerState]):
    algorithm = "fifo"
    retires_finished = True

    def __init__(self, *args: Any, algorithm: str = "fifo", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "random", "grid" and "tpe" are all FIFO; the name keeps their fingerprints apart.
        self.algorithm = algorithm  # type: ignore[misc]

    def _limit(self) -> int | None:
        caps = [c for c in (self.num_trials, self.searcher.capacity()) if c is not None]
        return min(caps) if caps else None

    def _next_job(self, state: SchedulerState, side: list[Action]) -> Job | None:
        limit = self._limit()
        if limit is not None and self.trial_count(state) >= limit:
            return None
        params = self._propose(state)
        if params is None:
            return None
        return self._new_trial(state, params, rung=0, fidelity=None)

    def _settle(self, state: SchedulerState, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        record.status = "completed"
        return ()
