"""The sweep engine: every decision of a sweep, pure (no temporalio, no I/O, no clock).

Events in: `on_result` (a segment's result), `control` (a steering command), `tick` (the
clock, for the wall-time budget), `offer` (a model-based searcher's proposal). Commands out:
`starts()` (segments to start now), `cancels()` (segments to cancel), `take_batch()` (the
next piece of the sweep's record). The sweep workflow (hpo.workflows.sweep_run) only
executes the commands and feeds back the events, so budgets, steering, bookkeeping and the
money are unit-tested without a server and replay-safe by construction.

Model-based searchers (gp, optuna) compute proposals in an activity: a search-core call that
needs one raises ProposalNeeded; the engine queues it and `proposal_needed()` says which
proposal to fetch; `offer()` hands it in and the queued calls go through in order (schedulers
are copy-on-write, so the failed call changed nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hpo.contracts.messages import (
    RecordBatch,
    SegmentRecord,
    SnapshotRef,
    TrialEvent,
    TrialResult,
    ranked_trials,
)
from hpo.contracts.spec import SweepSpec, make_scheduler
from hpo.engine.guard import SearchFailed, guarded
from hpo.engine.money import MISMATCH, CurrencyMismatch, add_segment, affordable, spent_reason
from hpo.engine.state import FULL_TABLE_LIMIT, TOP_OF_LEADERBOARD, EngineState, Job, RunningSegment
from hpo.engine.steering import Steering
from hpo.engine.targets import segment_target
from hpo.engine.trial_table import apply_event, ended_segment
from hpo.engine.views import Views
from hpo.search.recorded import ProposalNeeded, ProposalRequest, RecordedSearcher

# The table past FULL_TABLE_LIMIT may hold this many trials over the top of the leaderboard
# before it is trimmed: trimming ranks the table, so not after every event.
TRIM_SLACK = 100


@dataclass(frozen=True)
class StartSegment:
    trial_id: str
    rung: int
    fidelity: int | None
    params: dict[str, Any]


class SweepEngine(Steering, Views):
    def __init__(self, state: EngineState, scheduler: Any, search: Any) -> None:
        self.state = state
        self.scheduler = scheduler
        self.search = search  # the search core's state, live (serialized only to carry it)
        self.done = False
        # Search-core calls (method, arguments) waiting for a proposal, in arrival order.
        self._waiting: list[tuple[str, tuple[Any, ...]]] = []
        self._asked: ProposalRequest | None = None
        self._in_flight: RecordBatch | None = None

    # ---- beginning and carrying ----------------------------------------------------------
    @staticmethod
    def scheduler_for(spec: SweepSpec) -> Any:
        """The search core for `spec`; SearchFailed when it refuses the configuration."""
        return guarded(make_scheduler, spec)

    @classmethod
    def start(
        cls,
        spec: SweepSpec,
        *,
        scope: str,
        now: float,
        snapshot: SnapshotRef | None = None,
        prior: Iterable[tuple[Mapping[str, Any], float]] = (),
    ) -> SweepEngine:
        scheduler = cls.scheduler_for(spec)
        search = guarded(scheduler.new_state)
        prior = list(prior)
        if prior:
            search = guarded(scheduler.with_prior, search, prior)
        state = EngineState(spec=spec, budget=spec.budget, snapshot=snapshot, scope=scope, started_at=now)
        engine = cls(state, scheduler, search)
        engine._search("initial_actions")
        return engine

    @classmethod
    def resume(cls, carried: str) -> SweepEngine:
        state = EngineState.unpack(carried)
        state.runs += 1
        scheduler = cls.scheduler_for(state.spec)
        search = guarded(scheduler.load_state, state.search)
        state.search = {}
        return cls(state, scheduler, search)

    def carry(self) -> str:
        """The compact state for the next run (ValueError when too large to carry). Only
        between events: nothing waiting for a proposal, no piece of the record in flight."""
        assert not self._waiting and self._in_flight is None
        state = self.state
        self.search = guarded(self.scheduler.compact, self.search)
        self._trim_table(exact=True)
        state.reached = {t: s for t, s in state.reached.items() if self._search_status(t) == "paused"}
        state.search = self.search.model_dump(mode="json")
        try:
            return state.pack()
        finally:
            state.search = {}

    # ---- the search core -----------------------------------------------------------------
    def _search(self, method: str, *args: Any) -> None:
        """Call the search core now, or queue the call behind those waiting for a proposal."""
        if not self._waiting:
            try:
                self._step(method, args)
                return
            except ProposalNeeded:
                pass
        self._waiting.append((method, args))

    def _step(self, method: str, args: tuple[Any, ...]) -> None:
        self.search, actions = guarded(getattr(self.scheduler, method), self.search, *args)
        self._apply(actions)

    def proposal_needed(self) -> ProposalRequest | None:
        """The proposal the next waiting call needs (fetch it, then `offer` it); None when no
        call is waiting any more."""
        while self._waiting:
            method, args = self._waiting[0]
            try:
                self._step(method, args)
            except ProposalNeeded as needed:
                if needed.request == self._asked:
                    raise SearchFailed(
                        f"search: proposal {needed.request.index} was offered but not taken"
                    ) from None
                self._asked = needed.request
                return needed.request
            self._asked = None
            if isinstance(self.scheduler.searcher, RecordedSearcher):
                self.scheduler.searcher.drop_offers()
            self._waiting.pop(0)
        return None

    def offer(self, request: ProposalRequest, params: dict[str, Any]) -> None:
        # The scheduler as it is now: an `extend` may have rebuilt it while the proposal was fetched.
        self.scheduler.searcher.offer(request, params)

    def _search_status(self, trial_id: str) -> str | None:
        record = getattr(self.search, "trials", {}).get(trial_id)
        return record.status if record is not None else None

    def _apply(self, actions: list[Any]) -> None:
        state = self.state
        for action in actions:
            # Dispatch on the closed `kind` set, not on classes (the workflow sandbox has its own).
            if action.kind == "create":
                state.pending.append(
                    Job(
                        kind="create",
                        trial_id=action.trial_id,
                        rung=action.rung,
                        fidelity=action.fidelity,
                        params=dict(action.params),
                    )
                )
            elif action.kind == "promote":
                state.pending.append(
                    Job(kind="promote", trial_id=action.trial_id, rung=action.rung, fidelity=action.fidelity)
                )
            elif action.kind == "stop":
                state.reached.pop(action.trial_id, None)
                self._emit(
                    TrialEvent(trial_id=action.trial_id, status="stopped"),
                    was=self._status_of(action.trial_id),
                )
            elif action.kind == "finish":
                state.finished = True
            else:
                raise SearchFailed(f"unknown search action {action!r}")
        if state.stopping:
            state.pending.clear()

    # ---- the trial table -------------------------------------------------------------------
    def _status_of(self, trial_id: str) -> str | None:
        """A trial's status: from the table, else (a trial the table let go) from the search core."""
        if trial_id in self.state.running:
            return "running"
        trial = self.state.table.get(trial_id)
        if trial is not None:
            return trial.status
        status = self._search_status(trial_id)
        if status is None:
            return None
        # The search core's "paused" is a trial with a result waiting for a promotion.
        return "completed" if status == "paused" else status

    def _emit(self, event: TrialEvent, was: str | None) -> None:
        """Record a change of a trial: in the next piece of the record, the counts, the table."""
        state = self.state
        state.unrecorded.append(event)
        self._recount(was, event.status)
        if event.trial_id in state.table or event.params is not None:
            apply_event(state.table, event)
        self._trim_table()

    def _recount(self, was: str | None, now: str) -> None:
        counts = self.state.counts
        if was is not None:
            counts[was] = counts.get(was, 0) - 1
            if counts[was] <= 0:
                del counts[was]
        counts[now] = counts.get(now, 0) + 1

    def _trim_table(self, exact: bool = False) -> None:
        """Past FULL_TABLE_LIMIT trials, the table keeps the running ones and the top of the
        leaderboard (trimmed once it is TRIM_SLACK over, exactly before it is carried)."""
        state = self.state
        if state.trials_created <= FULL_TABLE_LIMIT:
            return
        if len(state.table) <= TOP_OF_LEADERBOARD + len(state.running) + (0 if exact else TRIM_SLACK):
            return
        state.table = self._shown_table()

    def _shown_table(self) -> dict[str, TrialResult]:
        state = self.state
        if state.trials_created <= FULL_TABLE_LIMIT:
            return state.table
        top = ranked_trials(list(state.table.values()), state.spec.mode)[:TOP_OF_LEADERBOARD]
        keep = {trial.trial_id for trial in top}
        return {tid: trial for tid, trial in state.table.items() if tid in keep or tid in state.running}

    # ---- results ------------------------------------------------------------------------------
    def on_result(self, result: TrialResult, now: float) -> str | None:
        """A segment ended. Returns why it was ignored (not running), else None."""
        state = self.state
        trial_id = result.trial_id
        run = state.running.get(trial_id)
        if run is None or run.segment.rung != result.rung:
            return f"ignoring a result of {trial_id} rung {result.rung}: not running"
        del state.running[trial_id]
        segment = ended_segment(run.segment, result, now)
        # (A cancel that arrived as the segment finished leaves its complete result standing.)
        cancelled = run.cancelling and result.status != "completed"
        status = "cancelled" if cancelled else result.status
        self._emit(
            TrialEvent(trial_id=trial_id, status=status, params=run.params, segment=segment, result=result),
            was="running",
        )
        mismatch = None
        try:
            add_segment(state.totals, segment, state.spec, state.budget)
        except CurrencyMismatch as error:
            mismatch = str(error)
        if result.status == "failed" and (result.error or "").startswith(f"{MISMATCH}: "):
            # The worker refused to train in another currency: every segment would be refused.
            mismatch = (result.error or "").removeprefix(f"{MISMATCH}: ")
        if cancelled:
            self._search("on_failure", trial_id, "cancelled by the user")
        elif result.status == "completed" and result.objective is not None:
            state.reached[trial_id] = segment.step or 0
            self._search("on_result", trial_id, result.rung, result.objective)
        else:
            self._search("on_failure", trial_id, result.error or result.status)
        reason = mismatch or spent_reason(state.totals, state.budget)
        if reason is not None:
            self._stop(reason, cancel_running=True)
        return None

    # ---- starting and cancelling segments -----------------------------------------------------
    def starts(self, now: float) -> list[StartSegment]:
        """The waiting segments that may start now (slots free, not paused, within budget)."""
        state = self.state
        started: list[StartSegment] = []
        while state.pending and not state.paused and not state.stopping:
            if len(state.running) >= state.spec.max_concurrent:
                break
            job = state.pending[0]
            committed = sum(run.projected for run in state.running.values())
            decision, reason, projected = affordable(
                job,
                self._segment_steps(job),
                state.totals,
                committed,
                len(state.running),
                state.spec,
                state.budget,
            )
            if decision == "wait":
                break
            if decision == "stop":
                self._stop(reason, cancel_running=False)
                break
            state.pending.pop(0)
            started.append(self._begin_segment(job, projected, now))
        return started

    def _segment_steps(self, job: Job) -> int | None:
        target = segment_target(self.state.spec, job.fidelity)
        if target is None:
            return None
        start = self.state.reached.get(job.trial_id, 0) if job.kind == "promote" else 0
        return max(target - start, 0)

    def _params_of(self, trial_id: str) -> dict[str, Any]:
        trial = self.state.table.get(trial_id)
        if trial is not None:
            return dict(trial.params)
        return dict(self.search.trials[trial_id].params)

    def _begin_segment(self, job: Job, projected: float, now: float) -> StartSegment:
        state = self.state
        first = job.kind == "create"
        params = dict(job.params) if first else self._params_of(job.trial_id)
        if first:
            state.trials_created += 1
        self._recount(None if first else self._status_of(job.trial_id), "running")
        state.running[job.trial_id] = RunningSegment(
            trial_id=job.trial_id,
            params=params,
            segment=SegmentRecord(rung=job.rung, started_at=now, target_step=job.fidelity),
            projected=projected,
            first=first,
        )
        return StartSegment(trial_id=job.trial_id, rung=job.rung, fidelity=job.fidelity, params=params)

    def cancels(self) -> list[tuple[str, int]]:
        """(trial id, rung) of each running segment to cancel now."""
        state = self.state
        out = []
        while state.to_cancel:
            run = state.running.get(state.to_cancel.pop(0))
            if run is not None:
                out.append((run.trial_id, run.segment.rung))
        return out

    # ---- stopping, budgets and the clock ------------------------------------------------------
    def _stop(self, reason: str, *, cancel_running: bool) -> None:
        state = self.state
        if state.stopping:
            return
        state.stopping = True
        state.stop_reason = reason
        # Jobs never started are not trials: creates vanish, promotions leave the trial where it was.
        state.pending.clear()
        if cancel_running:
            state.to_cancel.extend(t for t in state.running if t not in state.to_cancel)

    def fail(self, reason: str) -> None:
        """The sweep ends badly (its workflow failed or was cancelled): the reason replaces any
        earlier one, every running segment is to be cancelled (they checkpoint and end), a piece
        in flight goes into the last one, and the sweep is over."""
        state = self.state
        state.stop_reason = reason
        state.to_cancel.extend(t for t in state.running if t not in state.to_cancel)
        self.write_failed()
        self.done = True

    def wall_time_left(self, now: float) -> float | None:
        budget = self.state.budget
        if budget is None or budget.max_wall_time is None or self.state.stopping:
            return None
        return max(budget.max_wall_time - (now - self.state.started_at), 0.001)

    def tick(self, now: float) -> None:
        left = self.wall_time_left(now)
        if left is not None and left <= 0.001:
            assert self.state.budget is not None and self.state.budget.max_wall_time is not None
            self._stop(
                f"budget max_wall_time reached: {self.state.budget.max_wall_time:g} s", cancel_running=True
            )

    @property
    def over(self) -> bool:
        state = self.state
        if state.running:
            return False
        return state.stopping or not state.pending

    def stalled(self) -> bool:
        """Over with neither a stop nor a Finish: the search core stopped issuing work."""
        return self.over and not self.state.stopping and not self.state.finished
