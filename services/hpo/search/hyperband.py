"""Hyperband (Li et al., 2017, Algorithm 1) and BOHB (Falkner et al., 2018).

With ``s_max`` = the ladder's top rung, bracket ``s`` (from ``s_max`` down to 0) starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` configurations at rung ``s_max - s`` and runs
synchronous successive halving: when every member of a rung has reported (or failed), the
best ``floor(n_i / eta)`` are promoted (they resume from their checkpoints) and the rest are
stopped. For max 81, min 1, eta 3 the brackets are 81@1, 34@3, 15@9, 8@27, 5@81.

Brackets are worked on in order, but a free slot never idles while a bracket waits for its
stragglers: it starts configurations of the next bracket instead. ``num_trials`` caps the
configurations created in all; brackets repeat (a new Hyperband iteration) until it is
reached, the last one truncated. Without ``num_trials`` the sweep is one iteration.

BOHB is the same scheduler with a TPE searcher fit on the highest rung with enough results.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from .actions import Action, Stop
from .ladder import Ladder
from .scheduler import Job, Scheduler
from .state import SchedulerState, TrialRecord


class Bracket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s: int
    rung: int
    #: Configurations this bracket's current rung should hold (shrinks if num_trials truncates it).
    planned: int
    members: list[str] = Field(default_factory=list)
    #: Members selected for the current rung that still wait for a free slot.
    queued: list[str] = Field(default_factory=list)
    done: bool = False


class HyperbandState(SchedulerState):
    brackets: list[Bracket] = Field(default_factory=list)

    def clone(self) -> Self:
        copy = super().clone()
        copy.brackets = [
            b.model_copy(update={"members": list(b.members), "queued": list(b.queued)}) for b in self.brackets
        ]
        return copy


def bracket_size(s: int, s_max: int, eta: int) -> int:
    """``n = ceil((s_max + 1) / (s + 1) * eta^s)`` in exact integer arithmetic."""
    return -(-((s_max + 1) * eta**s) // (s + 1))


class HyperbandScheduler(Scheduler[HyperbandState]):
    algorithm = "hyperband"
    state_model = HyperbandState

    def __init__(self, *args: Any, ladder: Ladder, algorithm: str = "hyperband", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ladder = ladder
        self.algorithm = algorithm  # type: ignore[misc]

    models_highest_rung = True

    def _prior_rung(self) -> int:
        return self.ladder.top

    def config(self) -> dict[str, Any]:
        return {**super().config(), "ladder": self.ladder.config()}

    @property
    def s_max(self) -> int:
        return self.ladder.top

    def iteration_size(self) -> int:
        """Configurations in one full Hyperband iteration (all s_max + 1 brackets)."""
        return sum(bracket_size(s, self.s_max, self.ladder.eta) for s in range(self.s_max + 1))

    def _budget(self) -> int:
        return self.num_trials if self.num_trials is not None else self.iteration_size()

    # ---- jobs --------------------------------------------------------------------------
    def _next_job(self, state: HyperbandState, side: list[Action]) -> Job | None:
        for bracket in state.brackets:
            if bracket.done:
                continue
            if bracket.queued:
                tid = bracket.queued.pop(0)
                bracket.members.append(tid)
                return self._promote(state, tid, bracket.rung, self.ladder.fidelities[bracket.rung])
            if bracket.rung == self.s_max - bracket.s and len(bracket.members) < bracket.planned:
                job = self._create(state, bracket, side)
                if job is not None:
                    return job
        # Every open bracket is waiting on running trials: start the next bracket, if any remain.
        if len(state.trials) < self._budget():
            s = self.s_max - len(state.brackets) % (self.s_max + 1)
            bracket = Bracket(s=s, rung=self.s_max - s, planned=bracket_size(s, self.s_max, self.ladder.eta))
            state.brackets.append(bracket)
            return self._create(state, bracket, side)
        return None

    def _create(self, state: HyperbandState, bracket: Bracket, side: list[Action]) -> Job | None:
        params = self._propose(state) if len(state.trials) < self._budget() else None
        if params is None:
            # Out of configurations: this bracket's first rung is as large as it will get.
            bracket.planned = len(bracket.members)
            side.extend(self._advance(state, bracket))
            return None
        job = self._new_trial(
            state, params, rung=bracket.rung, fidelity=self.ladder.fidelities[bracket.rung], bracket=bracket.s
        )
        bracket.members.append(job.trial_id)
        return job

    # ---- events ------------------------------------------------------------------------
    def _settle(self, state: HyperbandState, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        record.status = "completed" if record.rung == self.s_max else "paused"
        return self._advance(state, self._bracket_of(state, trial_id))

    def _on_failed(self, state: HyperbandState, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        return self._advance(state, self._bracket_of(state, trial_id))

    def _bracket_of(self, state: HyperbandState, trial_id: str) -> Bracket:
        for bracket in state.brackets:
            if trial_id in bracket.members:
                return bracket
        raise AssertionError(f"trial {trial_id} belongs to no bracket")

    def _advance(self, state: HyperbandState, bracket: Bracket) -> list[Action]:
        """Synchronous halving: once the whole rung has reported, keep the best 1/eta, stop the rest."""
        if bracket.done or bracket.queued or len(bracket.members) < bracket.planned:
            return []
        records = [state.trials[tid] for tid in bracket.members]
        if any(rec.status == "running" for rec in records):
            return []
        scored = sorted(
            (self.loss(rec.values[bracket.rung]), tid)
            for tid, rec in zip(bracket.members, records, strict=True)
            if rec.status != "failed"
        )
        keep = 0 if bracket.rung == self.s_max else max(1, bracket.planned // self.ladder.eta)
        winners = [tid for _, tid in scored[:keep]]
        stops: list[Action] = []
        for _, tid in scored[keep:]:
            if state.trials[tid].status == "paused":
                self._edit(state, tid).status = "stopped"
                stops.append(
                    Stop(trial_id=tid, reason=f"not in the top 1/{self.ladder.eta} of its bracket's rung")
                )
        if not winners:
            bracket.done = True
            return stops
        bracket.rung += 1
        bracket.planned = len(winners)
        bracket.members = []
        bracket.queued = winners
        return stops
