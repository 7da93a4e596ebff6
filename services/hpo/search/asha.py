"""ASHA: asynchronous successive halving (Li et al., 2018, "A System for Massively Parallel
Hyperparameter Tuning", Algorithm 2).

Whenever a slot frees, look from the highest rung down for a paused trial that ranks in the
top ``floor(n_k / eta)`` of the ``n_k`` results recorded at its rung so far, and promote it:
the same trial resumes from its checkpoint up to the next rung's fidelity. Only when nobody
is promotable does a new configuration start at rung 0. Nothing ever waits for a rung to fill.

Beyond the paper:
- once ``num_trials`` bounds how many results a rung can still receive, a paused trial whose
  rank can no longer make the quota is stopped at once (its checkpoint can go), instead of
  lingering until the end of the sweep;
- ``finish_best`` (default on): the paper's rule can end a small sweep (fewer than eta^k
  configurations) without any trial trained to ``max_fidelity``. When nothing else is left
  to do and no trial has reached the top rung, the best trial of the highest rung reached is
  promoted on, rung by rung, so the sweep's winner is always a fully trained model. It costs
  at most one trial's remaining training.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .actions import Action, Stop
from .ladder import Ladder
from .scheduler import Job, Scheduler
from .state import SchedulerState, TrialRecord


class ASHAScheduler(Scheduler[SchedulerState]):
    algorithm = "asha"

    def __init__(self, *args: Any, ladder: Ladder, finish_best: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(finish_best, bool):
            raise ValueError(f"finish_best must be true or false, got {finish_best!r}")
        self.ladder = ladder
        self.finish_best = finish_best

    models_highest_rung = True

    def _prior_rung(self) -> int:
        return self.ladder.top

    def config(self) -> dict[str, Any]:
        return {**super().config(), "ladder": self.ladder.config(), "finish_best": self.finish_best}

    def _ranked(self, state: SchedulerState, rung: int) -> list[str]:
        """Trial ids with a result at ``rung``, best first; ties broken by id, never by dict order."""
        scored = [
            (self.loss(rec.values[rung]), tid) for tid, rec in state.trials.items() if rung in rec.values
        ]
        return [tid for _, tid in sorted(scored)]

    def _next_job(self, state: SchedulerState, side: list[Action]) -> Job | None:
        eta = self.ladder.eta
        for rung in range(self.ladder.top - 1, -1, -1):
            ranked = self._ranked(state, rung)
            for tid in ranked[: len(ranked) // eta]:
                rec = state.trials[tid]
                if rec.status == "paused" and rec.rung == rung:
                    return self._promote(state, tid, rung + 1, self.ladder.fidelities[rung + 1])
        params = None
        if self.num_trials is None or len(state.trials) < self.num_trials:
            params = self._propose(state)
        if params is not None:
            return self._new_trial(state, params, rung=0, fidelity=self.ladder.fidelities[0])
        finalist = self._finalist(state)
        if finalist is not None and self._active(state) == 0:
            rung = state.trials[finalist].rung + 1
            return self._promote(state, finalist, rung, self.ladder.fidelities[rung])
        return None

    def _finalist(self, state: SchedulerState) -> str | None:
        """With ``finish_best``: the trial to carry to the top if nobody has got there yet."""
        if not self.finish_best or any(rec.rung == self.ladder.top for rec in state.trials.values()):
            return None
        for rung in range(self.ladder.top - 1, -1, -1):
            ranked = self._ranked(state, rung)
            if ranked:
                best = state.trials[ranked[0]]
                return ranked[0] if best.status == "paused" and best.rung == rung else None
        return None

    def _settle(self, state: SchedulerState, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        record.status = "completed" if record.rung == self.ladder.top else "paused"
        return self._reap(state)

    def _on_failed(self, state: SchedulerState, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        return self._reap(state)

    def _reap(self, state: SchedulerState) -> list[Action]:
        """Stop paused trials that can never reach their rung's quota, whatever happens next."""
        if self.num_trials is None:
            return []
        eta = self.ladder.eta
        # Upper bound on results rung k can still receive: trials running there now, plus
        # everything that could still arrive from below (configs not yet created, trials
        # running or still promotable on lower rungs).
        arriving = self.num_trials - len(state.trials)
        finalist = self._finalist(state)
        stops: list[Action] = []
        for rung in range(self.ladder.top):
            arriving += sum(1 for r in state.trials.values() if r.status == "running" and r.rung == rung)
            ranked = self._ranked(state, rung)
            quota = (len(ranked) + arriving) // eta
            alive = 0
            for rank, tid in enumerate(ranked):
                rec = state.trials[tid]
                if rec.status != "paused" or rec.rung != rung:
                    continue
                if rank >= quota and tid != finalist:
                    self._edit(state, tid).status = "stopped"
                    stops.append(Stop(trial_id=tid, reason=f"cannot reach the top 1/{eta} of rung {rung}"))
                else:
                    alive += 1
            arriving += alive
        return stops
