"""The event-driven core shared by every scheduler: events in, actions out.

Subclasses decide *what* the next job is (``_next_job``) and what a result means for a trial
(``_settle``); this class owns the contract: copy-on-write states, concurrency slots, strict
event checking, failure handling, and emitting ``Finish`` exactly once.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from .actions import Action, Create, Finish, Promote, Stop
from .prior import prior_problem
from .rng import make_rng
from .searcher import Observation, Searcher
from .space import Space
from .state import ArchivedObservation, PriorObservation, SchedulerState, TrialRecord

S = TypeVar("S", bound=SchedulerState)
Job = Create | Promote
#: Retired trials a model-based searcher keeps learning from, newest kept (see ``compact``).
MAX_ARCHIVED_OBSERVATIONS = 10_000
FINISHED = ("completed", "failed", "stopped")


@dataclass(frozen=True)
class Best:
    trial_id: str
    params: dict[str, Any]
    value: float
    rung: int


class Scheduler(ABC, Generic[S]):
    algorithm: ClassVar[str]
    state_model: ClassVar[type[SchedulerState]] = SchedulerState
    #: Multi-fidelity schedulers model the highest rung with enough results (BOHB's rule, see
    #: _rung_observations); single-fidelity ones model every final result (_observations).
    models_highest_rung: ClassVar[bool] = False
    #: Decisions never look at a finished trial again, except a searcher's observations:
    #: ``compact`` may retire finished trials (FIFO). Ladders rank every result of a rung, so not they.
    retires_finished: ClassVar[bool] = False

    def __init__(
        self,
        space: Space,
        searcher: Searcher,
        *,
        mode: Literal["min", "max"] = "min",
        seed: int = 0,
        num_trials: int | None = None,
        max_concurrent: int = 1,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode is {mode!r}, must be 'min' or 'max'")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if num_trials is not None and (isinstance(num_trials, bool) or not isinstance(num_trials, int)):
            raise ValueError(f"num_trials must be an integer, got {num_trials!r}")
        if num_trials is not None and num_trials < 1:
            raise ValueError(f"num_trials is {num_trials}, must be >= 1")
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise ValueError(f"max_concurrent must be an integer, got {max_concurrent!r}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent is {max_concurrent}, must be >= 1")
        self.space = space
        self.searcher = searcher
        self.mode = mode
        self.seed = seed
        self.num_trials = num_trials
        self.max_concurrent = max_concurrent
        #: Pull mode (the ask/tell facade): jobs are only issued by ``_request``, never on events.
        self.pull = False

    # ---- configuration identity -------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "space": self.space.to_dict(),
            "searcher": self.searcher.config(),
            "mode": self.mode,
            "seed": self.seed,
            "num_trials": self.num_trials,
            "max_concurrent": self.max_concurrent,
        }

    @property
    def fingerprint(self) -> str:
        """Identity of the decision rules. ``num_trials`` and ``max_concurrent`` are limits, not
        identity: a sweep whose budget is extended or whose parallelism changes can rebuild its
        scheduler with the new limits and load the same state (decisions already taken stand)."""
        identity = {k: v for k, v in self.config().items() if k not in ("num_trials", "max_concurrent")}
        blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ---- public contract --------------------------------------------------------------
    def new_state(self) -> S:
        return self.state_model(fingerprint=self.fingerprint)  # type: ignore[return-value]

    def load_state(self, data: str | bytes | dict[str, Any] | SchedulerState) -> S:
        if isinstance(data, SchedulerState):
            data = data.model_dump(mode="json")
        if isinstance(data, (str, bytes)):
            state = self.state_model.model_validate_json(data)
        else:
            state = self.state_model.model_validate(data)
        if state.fingerprint != self.fingerprint:
            raise ValueError(
                f"state fingerprint {state.fingerprint} does not match this {self.algorithm} "
                f"scheduler ({self.fingerprint}): it was made with a different configuration"
            )
        return state  # type: ignore[return-value]

    def with_prior(self, state: S, prior: Iterable[tuple[Mapping[str, Any], float]]) -> S:
        """Warm start: ``state`` with ``(params, value)`` results of earlier sweeps added as
        prior observations (raw objective values: the mode is applied here, as for trials).

        Call it on a new state, before ``initial_actions``; a state carried across
        Continue-As-New already holds its prior. Priors are not trials (no id, no slot in
        ``num_trials``, never in ``best``): TPE sees them as its oldest observations, BOHB and
        ASHA+TPE as results at the top rung, random and grid search ignore them. Order is
        kept. A prior outside the space is a ValueError: filter with ``compatible_prior``.
        The fingerprint does not change: priors are data, not configuration.
        """
        state = self._copy(state)
        if state.started:
            raise ValueError(
                "with_prior must be called before initial_actions (a carried state already holds its prior)"
            )
        return self._add_prior(state, prior)

    def _add_prior(self, state: S, prior: Iterable[tuple[Mapping[str, Any], float]]) -> S:
        added = []
        for i, (params, value) in enumerate(prior):
            problem = prior_problem(self.space, params, value)
            if problem is not None:
                raise ValueError(f"warm start prior {i}: {problem} (filter priors with compatible_prior)")
            ordered = {name: params[name] for name in self.space.names}
            added.append(PriorObservation(params=ordered, value=float(value)))
        # A new list: older states (and clones sharing the list) keep theirs.
        state.prior = [*state.prior, *added]
        return state

    def initial_actions(self, state: S) -> tuple[S, list[Action]]:
        state = self._copy(state)
        if state.started:
            raise ValueError("initial_actions was already called for this state")
        state.started = True
        return state, self._fill(state, self.max_concurrent)

    def on_result(self, state: S, trial_id: str, rung: int, value: float) -> tuple[S, list[Action]]:
        state = self._copy(state)
        record = self._running(state, trial_id, rung)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"value for {trial_id} must be a number, got {value!r}")
        if not math.isfinite(value):
            # A diverged trial (nan/inf) ranks nowhere; JSON could not carry it either.
            return self._fail(state, trial_id, record, f"objective value is {value}")
        record.values[rung] = float(value)
        actions: list[Action] = list(self._settle(state, trial_id, record))
        return state, actions + self._fill(state, self.max_concurrent)

    def refill(self, state: S) -> tuple[S, list[Action]]:
        """Jobs for the slots this scheduler's limits leave free now: after the sweep raised
        ``num_trials`` or ``max_concurrent`` (a scheduler rebuilt with the new limits, same state)."""
        state = self._copy(state)
        if not state.started or state.finished:
            return state, []
        return state, self._fill(state, self.max_concurrent)

    def reopen(self, state: S) -> S:
        """A finished state opened for more work (a finished sweep extended with more trials,
        through a scheduler rebuilt with the new ``num_trials``): ``refill`` issues it, and
        ``Finish`` comes again once it is done. Trials stopped at the finish stay stopped."""
        state = self._copy(state)
        state.finished = False
        return state

    def compact(self, state: S) -> S:
        """The same future decisions from a smaller state: with ``retires_finished``, finished
        trials leave ``trials`` (counted in ``retired``; their final results kept in ``archive``
        for searchers that learn from them, the newest MAX_ARCHIVED_OBSERVATIONS). What a sweep
        carries across Continue-As-New then does not grow with the trials it has finished."""
        state = self._copy(state)
        if not self.retires_finished:
            return state
        finished = [tid for tid, rec in state.trials.items() if rec.status in FINISHED]
        if not finished:
            return state
        archive = list(state.archive)
        if self.searcher.wants_observations:
            for tid in finished:
                rec = state.trials[tid]
                if rec.status != "failed" and rec.rung in rec.values:
                    archive.append(
                        ArchivedObservation(
                            number=_number(tid), params=rec.params, value=rec.values[rec.rung]
                        )
                    )
        state.archive = archive[-MAX_ARCHIVED_OBSERVATIONS:]
        state.trials = {tid: rec for tid, rec in state.trials.items() if rec.status not in FINISHED}
        state.retired += len(finished)
        return state

    def trial_count(self, state: SchedulerState) -> int:
        """Trials created so far, retired ones included."""
        return len(state.trials) + state.retired

    def on_failure(self, state: S, trial_id: str, reason: str) -> tuple[S, list[Action]]:
        state = self._copy(state)
        record = self._running(state, trial_id, None)
        return self._fail(state, trial_id, record, reason)

    def best(self, state: SchedulerState) -> Best | None:
        """Best value at the highest rung any trial reached (full fidelity once one gets there)."""
        scored = [(rung, tid, rec) for tid, rec in state.trials.items() for rung in rec.values]
        if not scored:
            return None
        top = max(rung for rung, _, _ in scored)
        candidates = [(self.loss(rec.values[top]), tid) for rung, tid, rec in scored if rung == top]
        _, tid = min(candidates)
        rec = state.trials[tid]
        return Best(tid, dict(rec.params), rec.values[top], top)

    def loss(self, value: float) -> float:
        return -value if self.mode == "max" else value

    # ---- pull mode, for the ask/tell facade ---------------------------------------------
    def _request(self, state: S) -> tuple[S, list[Action]]:
        """One more job regardless of ``max_concurrent`` (the caller controls parallelism)."""
        state = self._copy(state)
        if not state.started:
            state.started = True
        if state.finished:
            return state, []
        actions: list[Action] = []
        job = self._next_job(state, actions)
        if job is not None:
            return state, [*actions, job]
        return state, actions + self._finish_if_idle(state)

    # ---- subclass hooks ----------------------------------------------------------------
    @abstractmethod
    def _next_job(self, state: S, side: list[Action]) -> Job | None:
        """Issue (and record in ``state``) the next Create or Promote, or None if there is none now.

        Decisions taken on the way (a Stop for a trial that lost its chance) go to ``side``.
        """

    @abstractmethod
    def _settle(self, state: S, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        """A result was recorded at ``record.rung``: mark the trial paused or completed."""

    def _on_failed(self, state: S, trial_id: str, record: TrialRecord) -> Iterable[Action]:
        """A trial failed; subclasses with rung bookkeeping react here."""
        return ()

    # ---- helpers for subclasses --------------------------------------------------------
    def _propose(self, state: S) -> dict[str, Any] | None:
        """Ask the searcher for the next configuration, drawing one fresh RNG from the counter."""
        observations: list[Observation] = []
        if self.searcher.wants_observations:
            observations = (
                self._rung_observations(state) if self.models_highest_rung else self._observations(state)
            )
        pending = [rec.params for rec in state.trials.values() if rec.status == "running"]
        rng = make_rng(self.seed, "propose", state.draws)
        state.draws += 1
        params = self.searcher.suggest(rng, self.trial_count(state), observations, pending)
        if params is not None and not self.space.contains(params):
            raise AssertionError(f"{self.searcher.name} proposed {params!r} outside the space")
        return params

    def _prior_observations(self, state: S) -> list[Observation]:
        return [Observation(p.params, self.loss(p.value)) for p in state.prior]

    def _prior_rung(self) -> int:
        """The rung prior observations count at: an earlier sweep's results are its final ones."""
        return 0

    def _observations(self, state: S) -> list[Observation]:
        """Observations at the highest rung of the ladder (full fidelity for FIFO), after the
        prior ones (oldest first: TPE's ramp lets them fade as the sweep's own results come in)."""
        live = [
            (_number(tid), Observation(rec.params, self.loss(rec.values[rec.rung])))
            for tid, rec in state.trials.items()
            if rec.status != "failed" and rec.rung in rec.values
        ]
        if state.archive:
            archived = [(a.number, Observation(a.params, self.loss(a.value))) for a in state.archive]
            live = sorted(archived + live, key=lambda pair: pair[0])
        return self._prior_observations(state) + [observation for _, observation in live]

    def _rung_observations(self, state: S) -> list[Observation]:
        """BOHB's rule: model the highest rung that has enough results for the searcher.

        Low rungs have many, noisy results; high rungs few, faithful ones. The searcher's own
        startup threshold says how many are "enough". Prior observations join the top rung.
        """
        by_rung: dict[int, list[Observation]] = {}
        if state.prior:
            by_rung[self._prior_rung()] = self._prior_observations(state)
        for rec in state.trials.values():
            for rung, value in rec.values.items():
                by_rung.setdefault(rung, []).append(Observation(rec.params, self.loss(value)))
        if not by_rung:
            return []
        needed = self.searcher.min_observations
        for rung in sorted(by_rung, reverse=True):
            if len(by_rung[rung]) >= needed:
                return by_rung[rung]
        return by_rung[min(by_rung)]

    def _new_trial(
        self, state: S, params: dict[str, Any], rung: int, fidelity: int | None, bracket: int | None = None
    ) -> Create:
        trial_id = f"t{self.trial_count(state):04d}"
        state.trials[trial_id] = TrialRecord(params=params, rung=rung, bracket=bracket)
        # The action gets its own dict: whatever the caller does with it cannot reach the state.
        return Create(trial_id=trial_id, params=dict(params), rung=rung, fidelity=fidelity)

    def _promote(self, state: S, trial_id: str, rung: int, fidelity: int | None) -> Promote:
        record = self._edit(state, trial_id)
        record.status = "running"
        record.rung = rung
        return Promote(trial_id=trial_id, rung=rung, fidelity=fidelity)

    # ---- internals ---------------------------------------------------------------------
    def _copy(self, state: S) -> S:
        if not isinstance(state, self.state_model):
            raise TypeError(f"expected {self.state_model.__name__}, got {type(state).__name__}")
        if state.fingerprint != self.fingerprint:
            raise ValueError("state belongs to a scheduler with a different configuration")
        # Copy-on-write: callers may keep the old state (replay, tests) and it must not change.
        return state.clone()

    def _edit(self, state: S, trial_id: str) -> TrialRecord:
        """The only way to change a trial: records may be shared with older states."""
        old = state.trials[trial_id]
        record = old.model_copy(update={"values": dict(old.values)})
        state.trials[trial_id] = record
        return record

    def _running(self, state: S, trial_id: str, rung: int | None) -> TrialRecord:
        if state.finished:
            raise ValueError(f"the sweep has finished; unexpected event for {trial_id}")
        if trial_id not in state.trials:
            raise ValueError(f"unknown trial {trial_id!r}")
        record = self._edit(state, trial_id)
        if record.status != "running":
            raise ValueError(f"trial {trial_id} is {record.status}, not running")
        if rung is not None and rung != record.rung:
            raise ValueError(f"trial {trial_id} is running rung {record.rung}, got a result for rung {rung}")
        return record

    def _fail(self, state: S, trial_id: str, record: TrialRecord, reason: str) -> tuple[S, list[Action]]:
        record.status = "failed"
        record.error = reason
        actions: list[Action] = list(self._on_failed(state, trial_id, record))
        return state, actions + self._fill(state, self.max_concurrent)

    def _active(self, state: S) -> int:
        return sum(1 for rec in state.trials.values() if rec.status == "running")

    def _fill(self, state: S, limit: int) -> list[Action]:
        if self.pull:
            return []
        actions: list[Action] = []
        while self._active(state) < limit:
            job = self._next_job(state, actions)
            if job is None:
                break
            actions.append(job)
        return actions + self._finish_if_idle(state)

    def _finish_if_idle(self, state: S) -> list[Action]:
        # Called right after _next_job declined: with nothing running no event can ever
        # arrive to change its mind, so the sweep is over.
        if state.finished or self._active(state) > 0:
            return []
        actions: list[Action] = []
        for trial_id in [tid for tid, rec in state.trials.items() if rec.status == "paused"]:
            self._edit(state, trial_id).status = "stopped"
            actions.append(Stop(trial_id=trial_id, reason="sweep finished"))
        state.finished = True
        actions.append(Finish())
        return actions


def _number(trial_id: str) -> int:
    """t0042 -> 42 (trial ids are made by ``_new_trial``)."""
    return int(trial_id[1:])
