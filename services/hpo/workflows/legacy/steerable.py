"""FROZEN (see hpo.workflows.legacy): the steerable sweep, the loop behind SweepWorkflow for
sweeps started between steering and the engine; new sweeps run the engine (sweep_run.py).

Compared with the first sweep loop (sweep.py, kept for sweeps already recorded) it
- takes steering commands (the `control` update: pause, resume, stop, cancel a trial, extend
  the trial count, the budgets or the parallelism), validated before they are accepted;
- keeps jobs the search core asked for in a queue and starts them only while the sweep is
  not paused or stopping, a slot is free and the budgets can pay for them (projected from
  the measured cost per step);
- learns trial results from a signal the trial workflow sends to the sweep's workflow id,
  not by awaiting its children, so it can continue-as-new with trials in flight: the next run
  receives their results. Its state (sweep_state.py) is small and carried compressed;
- runs model-based searchers (gp, optuna) whose proposals come from an activity (proposals.py):
  a search-core call that needs one raises ProposalNeeded, waits in a queue while the activity
  runs, and is called again with the answer offered (schedulers are copy-on-write, so the failed
  call changed nothing). The pure searchers never raise it, so their sweeps record exactly the
  commands they recorded before.

It never names a task, a hyperparameter or a metric.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import search_attributes
    from hpo.contracts.messages import (
        ControlRequest,
        ControlResult,
        SegmentRecord,
        SweepRequest,
        SweepStatus,
        TrialRequest,
        TrialResult,
        ranked_trials,
    )
    from hpo.contracts.spec import BudgetSpec, make_scheduler
    from hpo.engine import ledger
    from hpo.search.recorded import ProposalNeeded, RecordedSearcher
    from hpo.telemetry import sweep_metrics
    from hpo.workflows.legacy.steerable_state import Job, SweepState
    from hpo.workflows.proposals import fetch_proposal
    from hpo.workflows.retention import release_checkpoints
    from hpo.workflows.trial import TrialWorkflow, prepare_data, segment_target

# Continue-as-new past this many history events (Temporal's hard limit is 51,200).
DEFAULT_CONTINUE_AS_NEW_AFTER = 10_000
# Queries and the final status list every trial up to this many; beyond, the running ones
# and the top of the leaderboard, with counts of all.
FULL_TABLE_LIMIT = 500
TOP_OF_LEADERBOARD = 100
METRICS_EVERY_S = 5.0
T = TypeVar("T")


def guarded(step: Callable[..., T], *args: Any) -> T:
    """Every call into the search core goes through here. It is pure and deterministic, so
    whatever it raises (a ValueError for a configuration it rejects, or a ZeroDivisionError,
    TypeError, OverflowError it should never have reached) would raise again on every retry:
    fail the sweep at once with the message, instead of a workflow task retried forever."""
    try:
        return step(*args)
    except (ApplicationError, ProposalNeeded):
        raise
    except Exception as error:
        kind = "" if isinstance(error, ValueError) else f"{type(error).__name__}: "
        raise ApplicationError(f"search: {kind}{error}", type="InvalidSearch", non_retryable=True) from error


class SteerableSweep:
    def __init__(self, request: SweepRequest, inbox: list[TrialResult]) -> None:
        self.request = request
        # Filled by the workflow's signal handler (it exists before this object does).
        self.inbox = inbox
        self.state: SweepState | None = None
        self.scheduler: Any = None
        self.search: Any = None  # the search core's state, live (serialized only to carry it)
        self._kick = False
        self._metrics_at = -math.inf
        self._done = False
        # Search-core calls (method name, arguments) waiting for a model-based proposal, in
        # arrival order: each applies to the state the one before it left.
        self._waiting: list[tuple[str, tuple[Any, ...]]] = []

    # ---- the loop ------------------------------------------------------------------------
    async def run(self) -> SweepStatus:
        await self._begin()
        state = self._state
        while True:
            await self._take_results()
            if self._over():
                break
            if self._time_to_continue_as_new():
                # _take_results returned with no search call waiting and no await since: no
                # proposal is in flight, and offered ones were consumed by the call they answered.
                assert not self._waiting
                # No await between taking the results and continuing: under load a result
                # signal arrives at every await, and waiting for a quiet moment never ends.
                # (Handlers are synchronous, so none is ever left unfinished here.)
                state.scheduler = self.search.model_dump(mode="json")
                try:
                    carried = state.pack()
                except ValueError as error:  # too large to carry: the same on every retry
                    raise ApplicationError(
                        str(error), type="SweepStateTooLarge", non_retryable=True
                    ) from None
                workflow.continue_as_new(
                    self.request.model_copy(update={"carried": carried, "warm_start": []})
                )
            await self._send_cancels()
            await self._start_what_fits()
            self._record_metrics()
            try:
                await workflow.wait_condition(
                    lambda: bool(self.inbox) or self._kick, timeout=self._wall_time_left()
                )
            except TimeoutError:
                pass
            self._kick = False
            self._check_wall_time()
        if not state.stopping and not state.finished:
            # Nothing running, nothing queued, no Finish: the search core stalled.
            raise ApplicationError(
                "search scheduler stalled: nothing running and no Finish", non_retryable=True
            )
        state.released_bytes = await release_checkpoints(
            self.request, list(state.trials.values()), state.scope
        )
        self._done = True
        self._record_metrics(force=True)
        if self.request.search_attributes:
            final = "stopped" if state.stopping else "completed"
            workflow.upsert_search_attributes([search_attributes.STATE.value_set(final)])
        return self.status(full=True)

    async def _begin(self) -> None:
        request = self.request
        if request.carried:
            self.state = SweepState.unpack(request.carried)
            self.state.runs += 1
            self.scheduler = guarded(make_scheduler, self.state.spec)
            self.search = guarded(self.scheduler.load_state, self.state.scheduler)
            self.state.scheduler = {}
            return
        spec = request.spec
        # The search core first (pure, no command): a request started by hand with a
        # configuration it refuses fails now, before any data is prepared.
        self.scheduler = guarded(make_scheduler, spec)
        snapshot = None
        if spec.task.info.prepares_data:
            # Read and tokenize the data once, before any trial: a wrong field fails the sweep
            # with one message instead of failing every trial the same way.
            snapshot = await prepare_data(spec, request.queues, request.code)
        search = guarded(self.scheduler.new_state)
        if request.warm_start:
            prior = [(trial.params, trial.value) for trial in request.warm_start]
            search = guarded(self.scheduler.with_prior, search, prior)
        self.search = search
        self.state = SweepState(
            spec=spec,
            budget=spec.budget,
            scheduler={},
            snapshot=snapshot,
            scope=workflow.info().first_execution_run_id,
            started_at=workflow.now().timestamp(),
        )
        self._search("initial_actions")
        await self._fetch_proposals()

    @property
    def _state(self) -> SweepState:
        assert self.state is not None
        return self.state

    def _over(self) -> bool:
        state = self._state
        if state.running:
            return False
        if state.stopping:
            return True
        if state.pending:
            return False  # paused (or waiting to start): not over
        return True

    def _time_to_continue_as_new(self) -> bool:
        info = workflow.info()
        limit = self.request.continue_as_new_after or DEFAULT_CONTINUE_AS_NEW_AFTER
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

    # ---- results -----------------------------------------------------------------------
    def deliver(self) -> None:
        self._kick = True

    async def _take_results(self) -> None:
        """Every result received so far, applied; returns with the inbox empty and no search call
        waiting for a proposal (results that arrive while a proposal is fetched are taken too)."""
        while True:
            while self.inbox:
                self._on_result(self.inbox.pop(0))
            if not self._waiting:
                return
            await self._fetch_proposals()

    def _on_result(self, result: TrialResult) -> None:
        state = self._state
        trial_id = result.trial_id
        if state.running.get(trial_id) != result.rung:
            workflow.logger.warning("ignoring a result of %s rung %d: not running", trial_id, result.rung)
            return
        del state.running[trial_id]
        state.committed.pop(trial_id, None)
        trial = self._record(result)
        cancelled = trial_id in state.cancelling
        if cancelled:
            state.cancelling.remove(trial_id)
        if cancelled and result.status != "completed":
            trial.status = "cancelled"
            self._search_failure(trial_id, "cancelled by the user")
        elif result.status == "completed" and result.objective is not None:
            # (A cancel that arrived as the segment finished leaves its complete result standing.)
            self._search("on_result", trial_id, result.rung, result.objective)
        else:
            self._search_failure(trial_id, result.error or result.status)
        self._check_spend()

    def _search_failure(self, trial_id: str, reason: str) -> None:
        self._search("on_failure", trial_id, reason)

    # ---- the search core -----------------------------------------------------------------
    def _search(self, method: str, *args: Any) -> None:
        """Call the search core now (synchronously, as handlers need), or queue the call behind
        those waiting for a model-based proposal; the loop fetches it (_fetch_proposals)."""
        if not self._waiting:
            try:
                self._step(method, args)
                return
            except ProposalNeeded:
                pass
        self._waiting.append((method, args))
        self._kick = True

    def _step(self, method: str, args: tuple[Any, ...]) -> None:
        self.search, actions = guarded(getattr(self.scheduler, method), self.search, *args)
        self._apply(actions)

    async def _fetch_proposals(self) -> None:
        """Run the waiting search calls in order, fetching each proposal one needs from the suggest
        activity, offering it and calling again with the same arguments, until the call goes through.
        The scheduler is looked up after every await: an `extend` may have rebuilt it meanwhile."""
        while self._waiting:
            method, args = self._waiting[0]
            asked = None
            while True:
                try:
                    self._step(method, args)
                    break
                except ProposalNeeded as needed:
                    if needed.request == asked:
                        raise ApplicationError(
                            f"search: proposal {asked.index} was offered but not taken", non_retryable=True
                        ) from None
                    asked = needed.request
                    params = await fetch_proposal(asked, self.request.sweep_id, self.request.queues.sweep)
                    self.scheduler.searcher.offer(asked, params)
            if isinstance(self.scheduler.searcher, RecordedSearcher):
                self.scheduler.searcher.drop_offers()
            self._waiting.pop(0)

    def _record(self, result: TrialResult) -> TrialResult:
        """Merge a segment's result into its trial and the running totals."""
        state = self._state
        trial = state.trials[result.trial_id]
        segment = trial.segments[-1]
        segment.finished_at = workflow.now().timestamp()
        state.totals.segments += 1
        segment.status = result.status
        segment.objective = result.objective if result.status == "completed" else None
        train = result.train
        if train is not None:
            segment.step = train.step
            segment.train_seconds = train.train_seconds
            segment.resumed_from_step = (
                train.start_step if train.start_step is not None else train.resumed_from_step
            )
            segment.lost_seconds = train.lost_seconds
            segment.retried_steps_saved = train.retried_steps_saved
            segment.accelerators = train.accelerators
            segment.price_per_hour = train.price_per_hour
            segment.currency = train.currency
            self._add_to_totals(segment)
            trial.preemptions += train.preemptions
            trial.retries += train.retries
        if result.status != "completed" and trial.objective is not None:
            # A failed or stopped promotion keeps what the lower rung measured.
            trial.status = result.status
            trial.error = result.error
            return trial
        for field in ("status", "rung", "objective", "validation", "test", "train", "snapshot", "error"):
            setattr(trial, field, getattr(result, field))
        return trial

    def _add_to_totals(self, segment: SegmentRecord) -> None:
        totals = self._state.totals
        totals.seconds += segment.train_seconds
        totals.useful_seconds += segment.train_seconds - segment.lost_seconds
        totals.steps += max((segment.step or 0) - segment.resumed_from_step, 0)
        price, currency = self._price(segment.price_per_hour, segment.currency)
        if price is not None:
            totals.price_per_hour, totals.currency = price, currency
            totals.money += segment.train_seconds / 3600 * price

    def _price(self, price: float | None, currency: str | None) -> tuple[float | None, str | None]:
        """A worker pool's price where it has one, else the spec's (None: no price known)."""
        spec_price = self._state.spec.price
        if price is None and spec_price is not None:
            return spec_price.per_accelerator_hour, spec_price.currency
        return price, currency

    def _apply(self, actions: list[Any]) -> None:
        state = self._state
        for action in actions:
            # Dispatch on the closed `kind` set, not on classes (see sweep.py).
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
                if action.trial_id in state.trials:
                    state.trials[action.trial_id].status = "stopped"
            elif action.kind == "finish":
                state.finished = True
            else:
                raise ApplicationError(f"unknown search action {action!r}", non_retryable=True)
        if state.stopping:
            self._drop_pending()

    # ---- starting segments -------------------------------------------------------------
    async def _start_what_fits(self) -> None:
        state = self._state
        while state.pending and not state.paused and not state.stopping:
            if len(state.running) >= state.spec.max_concurrent:
                return
            job = state.pending[0]
            decision, reason, projected = self._affordable(job)
            if decision == "wait":
                return
            if decision == "stop":
                self._stop(reason, cancel_running=False)
                return
            state.pending.pop(0)
            state.committed[job.trial_id] = projected
            await self._start(job)

    def _segment_steps(self, job: Job) -> int | None:
        target = segment_target(self._state.spec, job.fidelity)
        if target is None:
            return None
        trial = self._state.trials.get(job.trial_id)
        start = trial.train.step if trial is not None and trial.train is not None else 0
        return max(target - start, 0)

    def _affordable(self, job: Job) -> tuple[str, str, float]:
        """("go" | "wait" | "stop", why, projected accelerator-seconds) for starting `job`."""
        state, budget = self._state, self._state.budget
        if budget is None or (budget.max_cost is None and budget.max_accelerator_hours is None):
            return "go", "", 0.0
        totals = state.totals
        steps = self._segment_steps(job)
        if totals.steps > 0 and steps is not None:
            projected = totals.useful_seconds / totals.steps * steps
        elif totals.segments:
            projected = totals.seconds / totals.segments
        else:
            # Nothing measured yet: one segment at a time until a step's cost is known.
            return ("wait" if state.running else "go"), "", 0.0
        committed = sum(state.committed.values())
        if budget.max_accelerator_hours is not None:
            used = (totals.seconds + committed) / 3600
            if used + projected / 3600 > budget.max_accelerator_hours:
                return (
                    "stop",
                    (
                        f"budget max_accelerator_hours reached: {used:.3f} h spent or committed, the next "
                        f"segment (~{projected / 3600:.3f} h) would pass the limit of {budget.max_accelerator_hours:g} h"
                    ),
                    projected,
                )
        if budget.max_cost is not None:
            price, currency = self._price(totals.price_per_hour, totals.currency)
            if price is None:
                return (
                    "stop",
                    (
                        "budget max_cost is set but no price is known: set price.per_accelerator_hour in the "
                        "spec or HPO_PRICE_PER_HOUR (chart: pricing.perAcceleratorHour) on the training workers"
                    ),
                    projected,
                )
            spent = totals.money + committed / 3600 * price
            cost = projected / 3600 * price
            if spent + cost > budget.max_cost:
                return (
                    "stop",
                    (
                        f"budget max_cost reached: {spent:.2f} {currency} spent or committed, the next segment "
                        f"(~{cost:.2f} {currency}) would pass the limit of {budget.max_cost:g} {budget.currency or currency}"
                    ),
                    projected,
                )
        return "go", "", projected

    async def _start(self, job: Job) -> None:
        state, request = self._state, self.request
        if job.kind == "create":
            state.trials[job.trial_id] = TrialResult(
                trial_id=job.trial_id, params=job.params, status="running", rung=job.rung
            )
        trial = state.trials[job.trial_id]
        trial.status = "running"
        trial.segments.append(
            SegmentRecord(rung=job.rung, started_at=workflow.now().timestamp(), target_step=job.fidelity)
        )
        state.running[job.trial_id] = job.rung
        try:
            await workflow.start_child_workflow(
                TrialWorkflow.run,
                TrialRequest(
                    sweep_id=request.sweep_id,
                    trial_id=job.trial_id,
                    spec=state.spec,
                    snapshot=state.snapshot,
                    params=trial.params,
                    rung=job.rung,
                    fidelity=job.fidelity,
                    queues=request.queues,
                    code=request.code,
                    scope=state.scope,
                    report_to=request.sweep_id,
                ),
                id=f"{request.sweep_id}.{job.trial_id}.r{job.rung}",
                task_queue=request.queues.sweep,
                # The trial outlives this run of the sweep when it continues-as-new: its result
                # arrives by signal at whichever run is current.
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=self._trial_attributes() if request.search_attributes else None,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info(
                "trial %s rung %d was already started; awaiting its result", job.trial_id, job.rung
            )

    def _trial_attributes(self) -> Any:
        return search_attributes.sweep_attributes(self.request.sweep_id, self._state.spec, "running")

    async def _send_cancels(self) -> None:
        state = self._state
        while state.to_cancel:
            trial_id = state.to_cancel.pop(0)
            rung = state.running.get(trial_id)
            if rung is None:
                continue
            handle = workflow.get_external_workflow_handle(f"{self.request.sweep_id}.{trial_id}.r{rung}")
            try:
                await handle.cancel()
            except Exception as error:  # the trial ended meanwhile: its result is on its way
                workflow.logger.info("cancel of %s: %s", trial_id, error)

    # ---- stopping and budgets ----------------------------------------------------------
    def _stop(self, reason: str, *, cancel_running: bool) -> None:
        state = self._state
        if state.stopping:
            return
        state.stopping = True
        state.stop_reason = reason
        self._drop_pending()
        if cancel_running:
            state.to_cancel.extend(t for t in state.running if t not in state.to_cancel)
        self._kick = True

    def _drop_pending(self) -> None:
        # Jobs never started are not trials: creates vanish, promotions leave the trial where it was.
        self._state.pending.clear()

    def _check_spend(self) -> None:
        state, budget = self._state, self._state.budget
        if budget is None or state.stopping:
            return
        totals = state.totals
        if (
            budget.max_cost is not None
            and totals.price_per_hour is not None
            and totals.money >= budget.max_cost
        ):
            self._stop(
                f"budget max_cost reached: {totals.money:.2f} {totals.currency} spent", cancel_running=True
            )
        elif (
            budget.max_accelerator_hours is not None and totals.seconds / 3600 >= budget.max_accelerator_hours
        ):
            self._stop(
                f"budget max_accelerator_hours reached: {totals.seconds / 3600:.3f} h spent",
                cancel_running=True,
            )

    def _wall_time_left(self) -> float | None:
        budget = self._state.budget
        if budget is None or budget.max_wall_time is None or self._state.stopping:
            return None
        elapsed = workflow.now().timestamp() - self._state.started_at
        return max(budget.max_wall_time - elapsed, 0.001)

    def _check_wall_time(self) -> None:
        left = self._wall_time_left()
        if left is not None and left <= 0.001:
            budget = self._state.budget
            assert budget is not None and budget.max_wall_time is not None
            self._stop(f"budget max_wall_time reached: {budget.max_wall_time:g} s", cancel_running=True)

    # ---- steering ----------------------------------------------------------------------
    def validate(self, command: ControlRequest) -> None:
        """Raise (rejecting the update, nothing recorded) unless `command` makes sense now."""
        try:
            self._check(command)
        except ValueError as refusal:
            # An ApplicationError's message reaches the client as it is (a ValueError's
            # would arrive prefixed with its type).
            raise ApplicationError(str(refusal), type="ControlRefused", non_retryable=True) from None

    def _check(self, command: ControlRequest) -> None:
        state = self.state
        if state is None:
            raise ValueError("the sweep is still starting; try again in a moment")
        if self._done:
            raise ValueError("the sweep has ended")
        if state.stopping:
            raise ValueError(f"the sweep is stopping ({state.stop_reason})")
        action = command.action
        if action == "pause" and state.paused:
            raise ValueError("the sweep is already paused")
        if action == "resume" and not state.paused:
            raise ValueError("the sweep is not paused")
        if action == "cancel_trial":
            self._check_cancel(command.trial_id)
        if action == "extend":
            self._check_extend(command)

    def _check_cancel(self, trial_id: str | None) -> None:
        state = self._state
        if not trial_id:
            raise ValueError("cancel_trial needs a trial id")
        queued = any(job.trial_id == trial_id for job in state.pending)
        if trial_id not in state.trials and not queued:
            raise ValueError(f"no trial {trial_id!r} in this sweep")
        if trial_id in state.cancelling:
            raise ValueError(f"trial {trial_id} is already being cancelled")
        if trial_id not in state.running and not queued:
            raise ValueError(
                f"trial {trial_id} is {state.trials[trial_id].status}, not running; nothing to cancel"
            )

    def _check_extend(self, command: ControlRequest) -> None:
        state = self._state
        fields = ("trials", "max_cost", "max_accelerator_hours", "max_wall_time", "max_concurrent")
        if all(getattr(command, name) is None for name in fields):
            raise ValueError("extend needs at least one of " + ", ".join(fields))
        if command.trials is not None and not state.spec.trials <= command.trials <= 1_000_000:
            raise ValueError(
                f"trials can only grow (up to 1,000,000): {state.spec.trials} → {command.trials}"
            )
        if command.max_concurrent is not None and not 1 <= command.max_concurrent <= 10_000:
            raise ValueError(f"max_concurrent must be 1 to 10,000, got {command.max_concurrent}")
        budget = state.budget or BudgetSpec()
        for name in ("max_cost", "max_accelerator_hours", "max_wall_time"):
            new, old = getattr(command, name), getattr(budget, name)
            if new is None:
                continue
            if not math.isfinite(new) or new <= 0:
                raise ValueError(f"{name} must be a positive number, got {new}")
            if old is not None and new < old:
                raise ValueError(f"{name} can only grow: {old:g} → {new:g}")
        budgets = ("max_cost", "max_accelerator_hours", "max_wall_time")
        updates = {name: getattr(command, name) for name in budgets if getattr(command, name) is not None}
        try:
            # The bounds a spec's budget has (a budget is re-validated when the sweep continues-as-new).
            BudgetSpec.model_validate(budget.model_dump() | updates)
        except ValidationError as error:
            raise ValueError("; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in error.errors())) from None

    def control(self, command: ControlRequest) -> ControlResult:
        self.validate(command)
        state = self._state
        action = command.action
        if action == "pause":
            state.paused = True
            message = f"paused: no new segment starts; {len(state.running)} running go on"
        elif action == "resume":
            state.paused = False
            message = f"resumed: {len(state.pending)} waiting segment(s) may start"
        elif action == "stop":
            reason = "stopped by the user" + (f": {command.reason}" if command.reason else "")
            self._stop(reason, cancel_running=True)
            message = f"stopping: {len(state.running)} running segment(s) checkpoint and end"
        elif action == "cancel_trial":
            message = self._cancel(command.trial_id or "")
        else:
            message = self._extend(command)
        self._kick = True
        if self.request.search_attributes:
            # The Web UI and `hpo sweep list` see paused / stopping / running as it changes.
            workflow.upsert_search_attributes([search_attributes.STATE.value_set(self.state_name())])
        return ControlResult(action=action, state=self.state_name(), message=message)

    def _cancel(self, trial_id: str) -> str:
        state = self._state
        if trial_id in state.running:
            state.cancelling.append(trial_id)
            state.to_cancel.append(trial_id)
            return f"cancelling {trial_id}: its segment checkpoints and ends"
        job = next(job for job in state.pending if job.trial_id == trial_id)
        state.pending.remove(job)
        if job.kind == "create":
            state.trials[trial_id] = TrialResult(
                trial_id=trial_id, params=job.params, status="cancelled", rung=job.rung
            )
        else:
            state.trials[trial_id].status = "cancelled"
        self._search_failure(trial_id, "cancelled by the user")
        return f"cancelled {trial_id} before it started"

    def _extend(self, command: ControlRequest) -> str:
        state = self._state
        changes: list[str] = []
        spec_update: dict[str, Any] = {}
        if command.trials is not None:
            spec_update["trials"] = command.trials
            changes.append(f"trials {state.spec.trials} → {command.trials}")
        if command.max_concurrent is not None:
            spec_update["max_concurrent"] = command.max_concurrent
            changes.append(f"max_concurrent {state.spec.max_concurrent} → {command.max_concurrent}")
        budget_update = {
            name: getattr(command, name)
            for name in ("max_cost", "max_accelerator_hours", "max_wall_time")
            if getattr(command, name) is not None
        }
        if budget_update:
            # Validated, not copied: the budget is re-read when the sweep continues-as-new.
            state.budget = BudgetSpec.model_validate(
                (state.budget or BudgetSpec()).model_dump() | budget_update
            )
            changes.extend(f"{name} {value:g}" for name, value in budget_update.items())
        if spec_update:
            # Limits are not the search core's identity: the same state loads into a scheduler
            # rebuilt with the new limits, and it fills the slots they free.
            state.spec = state.spec.model_copy(update=spec_update)
            self.scheduler = guarded(make_scheduler, state.spec)
            self.search = guarded(self.scheduler.load_state, self.search)
            self._search("refill")
        return "extended: " + ", ".join(changes)

    # ---- what it shows -----------------------------------------------------------------
    def state_name(self) -> str:
        state = self._state
        if self._done:
            return "stopped" if state.stopping else "completed"
        if state.stopping:
            return "stopping"
        return "paused" if state.paused else "running"

    def status(self, full: bool = False) -> SweepStatus:
        state = self._state
        spec = state.spec
        everything = list(state.trials.values())
        ranked = ranked_trials(everything, spec.mode)
        best = ranked[0] if ranked and ranked[0].objective is not None else None
        shown = everything
        if len(everything) > FULL_TABLE_LIMIT:
            top = {t.trial_id for t in ranked[:TOP_OF_LEADERBOARD]}
            shown = [t for t in everything if t.trial_id in top or t.status == "running"]
        try:
            money = ledger.summarize(everything, spec)
        except Exception as error:  # a query must answer even if the ledger cannot
            workflow.logger.warning("ledger: %s", error)
            money = None
        return SweepStatus(
            sweep_id=self.request.sweep_id,
            name=spec.name,
            spec=spec,
            state=self.state_name(),  # type: ignore[arg-type]
            objective_metric=spec.metric,
            mode=spec.mode,
            trials=sorted(shown, key=lambda trial: trial.trial_id),
            best_trial_id=best.trial_id if best else None,
            train_seconds=state.totals.seconds,
            released_bytes=state.released_bytes,
            code=self.request.code,
            stop_reason=state.stop_reason,
            money=money,
            counts=dict(Counter(t.status for t in everything)),
            trials_total=len(everything),
            trials_planned=spec.trials,
            max_concurrent=spec.max_concurrent,
            scope=state.scope,
            runs=state.runs,
        )

    def _record_metrics(self, force: bool = False) -> None:
        now = workflow.now().timestamp()
        if not force and now - self._metrics_at < METRICS_EVERY_S:
            return
        self._metrics_at = now
        state = self._state
        best = None
        ranked = ranked_trials(list(state.trials.values()), state.spec.mode)
        if ranked and ranked[0].objective is not None:
            best = ranked[0].objective
        counts = Counter(t.status for t in state.trials.values())
        sweep_metrics.record_values(self.request.sweep_id, dict(counts), state.totals.seconds, best)
