"""SweepWorkflow: the search core decides, trials run as child workflows.

The workflow keeps only orchestration state: the scheduler's own state (RNG included)
is a pydantic model, so the whole sweep is replay-safe by construction.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import search_attributes, stubs
    from hpo.contracts.messages import (
        ControlRequest,
        ControlResult,
        PrepareRequest,
        SegmentRecord,
        SnapshotRef,
        SweepRequest,
        SweepStatus,
        TrialRequest,
        TrialResult,
        ranked_trials,
        trial_workflow_id,
    )
    from hpo.contracts.segment_outcome import RESULT_SIGNAL
    from hpo.contracts.spec import make_scheduler
    from hpo.telemetry import sweep_metrics
    from hpo.workflows.legacy.steerable import SteerableSweep, guarded
    from hpo.workflows.retention import release_checkpoints
    from hpo.workflows.sweep_run import EngineSweep
    from hpo.workflows.trial import QUICK_RETRY, TrialWorkflow, prepare_data


# A ValidationError fails the sweep, not its workflow task: the SDK raises it while decoding a
# request whose spec the validators refuse (a request started by hand, not by `hpo sweep run`),
# and a retried task would only decode the same payload again, forever.
@workflow.defn(name="SweepWorkflow", failure_exception_types=[ValidationError])
class SweepWorkflow:
    def __init__(self) -> None:
        self._request: SweepRequest | None = None
        self._snapshot: SnapshotRef | None = None
        self._trials: dict[str, TrialResult] = {}
        # Accelerator-seconds per trial over all its rungs and attempts: the sweep's real cost.
        self._seconds: dict[str, float] = {}
        self._completed = False
        self._released_bytes = 0
        # Per trial, its segments in order: reports draw the ladder over time from these.
        self._segments: dict[str, list[SegmentRecord]] = {}
        # Sweeps started by this version run the steerable loop (steering.py); results of its
        # trials arrive by signal, possibly before the loop exists (first task of a new run).
        self._steerable: SteerableSweep | None = None
        self._inbox: list[TrialResult] = []
        # Sweeps started by this version: the pure engine, executed by sweep_run.py.
        self._engine: EngineSweep | None = None

    def _record(self, trial_id: str, result: TrialResult) -> TrialResult:
        segment = self._segments[trial_id][-1]
        segment.finished_at = workflow.now().timestamp()
        segment.status = result.status
        segment.objective = result.objective if result.status == "completed" else None
        if result.train:
            self._seconds[trial_id] = self._seconds.get(trial_id, 0.0) + result.train.train_seconds
            segment.step = result.train.step
            segment.train_seconds = result.train.train_seconds
        previous = self._trials.get(trial_id)
        if result.status == "failed" and previous is not None and previous.objective is not None:
            # A failed promotion keeps what the lower rung measured; only the status says it failed.
            result = previous.model_copy(update={"status": "failed", "error": result.error})
        self._trials[trial_id] = result
        return result

    @workflow.run
    async def run(self, request: SweepRequest) -> SweepStatus:
        self._request = request
        # patched(): sweeps recorded before the engine replay the steerable loop, and those
        # recorded before steering the first loop below, each unchanged.
        if workflow.patched("engine"):
            self._engine = EngineSweep(request, self._inbox)
            return await self._engine.run()
        if workflow.patched("steering"):
            self._steerable = SteerableSweep(request, self._inbox)
            return await self._steerable.run()
        # Read and tokenize the data once, before any trial: a wrong field or an empty class
        # fails the sweep with one message instead of failing every trial the same way.
        # patched(): sweeps started before this change replay without the extra activity.
        if workflow.patched("snapshot-once-per-sweep"):
            self._snapshot = await self._prepare(request)
        scheduler = guarded(make_scheduler, request.spec)
        state, actions = guarded(scheduler.initial_actions, guarded(scheduler.new_state))
        running: dict[asyncio.Task[TrialResult], tuple[str, int]] = {}
        finished = False
        while True:
            for action in actions:
                # Dispatch on the closed `kind` set, not on classes: a class imported inside
                # the sandbox is a different object from the same class imported outside it.
                if action.kind == "create":
                    self._trials[action.trial_id] = TrialResult(
                        trial_id=action.trial_id, params=action.params, status="running", rung=action.rung
                    )
                    task = self._start(action.trial_id, action.rung, action.fidelity)
                    running[task] = (action.trial_id, action.rung)
                elif action.kind == "promote":
                    self._trials[action.trial_id].status = "running"
                    task = self._start(action.trial_id, action.rung, action.fidelity)
                    running[task] = (action.trial_id, action.rung)
                elif action.kind == "stop":
                    self._trials[action.trial_id].status = "stopped"
                elif action.kind == "finish":
                    finished = True
                else:
                    raise ApplicationError(f"unknown search action {action!r}", non_retryable=True)
            # After the actions: new trials count as running, stopped ones as stopped.
            sweep_metrics.record(self._status())
            if not running:
                break
            done, _ = await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            actions = []
            for task in done:
                trial_id, rung = running.pop(task)
                result = self._record(trial_id, self._collect(task, trial_id, rung))
                if result.status == "completed" and result.objective is not None:
                    state, new = guarded(scheduler.on_result, state, trial_id, rung, result.objective)
                else:
                    state, new = guarded(scheduler.on_failure, state, trial_id, result.error or "failed")
                actions.extend(new)
        if not finished:
            # Nothing running and no Finish: the search core stalled. Fail loudly, never "complete".
            raise ApplicationError(
                "search scheduler stalled: nothing running and no Finish", non_retryable=True
            )
        # patched(): sweeps recorded before this change replay without the extra activity.
        if workflow.patched("release-checkpoints"):
            await self._release_checkpoints()
        self._completed = True
        sweep_metrics.record(self._status())
        if request.search_attributes and workflow.patched("search-attributes"):
            workflow.upsert_search_attributes([search_attributes.STATE.value_set("completed")])
        return self._status()

    async def _prepare(self, request: SweepRequest) -> SnapshotRef | None:
        # patched(): sweeps recorded before the task API ran the text task's snapshot activity
        # for every sweep; now only tasks that prepare data do, under a task-neutral name.
        if workflow.patched("task-api"):
            if not request.spec.task.info.prepares_data:
                return None
            return await prepare_data(request.spec, request.queues, request.code)
        return await workflow.execute_activity(
            stubs.ensure_snapshot_v1,
            PrepareRequest(spec=request.spec, code=request.code),
            task_queue=request.queues.training,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=QUICK_RETRY,
        )

    async def _release_checkpoints(self) -> None:
        assert self._request is not None
        self._released_bytes = await release_checkpoints(self._request, list(self._trials.values()))

    def _start(self, trial_id: str, rung: int, fidelity: int | None) -> asyncio.Task[TrialResult]:
        assert self._request is not None
        request = self._request
        trial = self._trials[trial_id]
        self._segments.setdefault(trial_id, []).append(
            SegmentRecord(rung=rung, started_at=workflow.now().timestamp(), target_step=fidelity)
        )
        return asyncio.ensure_future(
            workflow.execute_child_workflow(
                TrialWorkflow.run,
                TrialRequest(
                    sweep_id=request.sweep_id,
                    trial_id=trial_id,
                    spec=request.spec,
                    snapshot=self._snapshot,
                    params=trial.params,
                    rung=rung,
                    fidelity=fidelity,
                    queues=request.queues,
                    code=request.code,
                ),
                id=trial_workflow_id(request.sweep_id, trial_id, rung),
                task_queue=request.queues.sweep,
                search_attributes=self._trial_attributes() if request.search_attributes else None,
            )
        )

    def _trial_attributes(self) -> search_attributes.TypedSearchAttributes:
        assert self._request is not None
        return search_attributes.sweep_attributes(self._request.sweep_id, self._request.spec, "running")

    def _collect(self, task: asyncio.Task[TrialResult], trial_id: str, rung: int) -> TrialResult:
        try:
            return task.result()
        except ChildWorkflowError as error:
            previous = self._trials[trial_id]
            return previous.model_copy(
                update={"status": "failed", "rung": rung, "error": str(error.cause or error)}
            )

    @workflow.query(name="status")
    def status(self) -> SweepStatus:
        if self._engine is not None:
            return self._engine.status()
        return self._steerable.status() if self._steerable else self._status()

    @workflow.signal(name=RESULT_SIGNAL)
    def trial_finished(self, result: TrialResult) -> None:
        self._inbox.append(result)
        if self._engine is not None:
            self._engine.deliver()
        if self._steerable is not None:
            self._steerable.deliver()

    @workflow.update(name="control")
    def control(self, command: ControlRequest) -> ControlResult:
        if self._engine is not None:
            return self._engine.control(command)
        assert self._steerable is not None  # the validator refuses otherwise
        return self._steerable.control(command)

    @control.validator
    def _validate_control(self, command: ControlRequest) -> None:
        if self._engine is not None:
            self._engine.validate(command)
            return
        if self._steerable is None:
            raise ValueError("this sweep was started by an earlier hpo version and cannot be steered")
        self._steerable.validate(command)

    def _status(self) -> SweepStatus:
        assert self._request is not None
        spec = self._request.spec
        trials = sorted(
            (
                t.model_copy(update={"segments": list(self._segments.get(t.trial_id, []))})
                for t in self._trials.values()
            ),
            key=lambda trial: trial.trial_id,
        )
        leader = ranked_trials(trials, spec.mode)[:1]
        best = leader[0] if leader and leader[0].objective is not None else None
        return SweepStatus(
            sweep_id=self._request.sweep_id,
            name=spec.name,
            spec=spec,
            state="completed" if self._completed else "running",
            objective_metric=spec.metric,
            mode=spec.mode,
            trials=trials,
            best_trial_id=best.trial_id if best else None,
            train_seconds=sum(self._seconds.values()),
            released_bytes=self._released_bytes,
            code=self._request.code,
        )
