"""The sweep workflow's loop for sweeps started by this version: a thin executor of the engine.

Every decision is the pure engine's (hpo.engine): this loop feeds it what happens (trial
results arrive by signal, steering by the `control` update, the clock) and carries out what it
asks (start a trial's segment as a child workflow, cancel one, fetch a model-based proposal,
write the next piece of the sweep's record to S3). It continues-as-new with the engine's
compact state, which does not grow with the trials the sweep has finished: those are in the
record. It never names a task, a hyperparameter or a metric.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from hpo.contracts import search_attributes, stubs
    from hpo.contracts.messages import (
        ControlRequest,
        ControlResult,
        RecordBatch,
        SweepRequest,
        SweepStart,
        SweepStatus,
        TrialRequest,
        TrialResult,
        trial_workflow_id,
    )
    from hpo.engine.core import SearchFailed, StartSegment, SweepEngine
    from hpo.telemetry import sweep_metrics
    from hpo.workflows.proposals import fetch_proposal
    from hpo.workflows.retention import release_checkpoints
    from hpo.workflows.trial import TrialWorkflow, prepare_data

# Continue-as-new past this many history events (Temporal's hard limit is 51,200).
DEFAULT_CONTINUE_AS_NEW_AFTER = 10_000
METRICS_EVERY_S = 5.0
# The record is the system of record: a sweep waits for S3 rather than lose a piece of it.
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


class EngineSweep:
    def __init__(self, request: SweepRequest, inbox: list[TrialResult]) -> None:
        self.request = request
        self.inbox = inbox  # filled by the workflow's signal handler, which exists before this object
        self.engine: SweepEngine | None = None
        self._kick = False
        self._metrics_at = -math.inf

    # ---- the loop --------------------------------------------------------------------------
    async def run(self) -> SweepStatus:
        try:
            return await self._run()
        except SearchFailed as error:
            await self._fail(str(error))
            raise ApplicationError(str(error), type="InvalidSearch", non_retryable=True) from None
        except FailureError as error:  # an ApplicationError, or an activity that failed for good
            await self._fail(error.message)
            raise
        except asyncio.CancelledError:
            await self._fail("the sweep's workflow was cancelled", state="stopped")
            raise

    async def _run(self) -> SweepStatus:
        engine = await self._begin()
        while True:
            await self._take_results()
            if engine.over:
                break
            if self._time_to_continue_as_new():
                # No await since the results were taken: a result signal arrives at every await
                # under load. Events not yet written travel in the carried state.
                try:
                    carried = engine.carry()
                except ValueError as error:  # too large to carry: the same on every retry
                    raise ApplicationError(
                        str(error), type="SweepStateTooLarge", non_retryable=True
                    ) from None
                workflow.continue_as_new(
                    self.request.model_copy(update={"carried": carried, "warm_start": []})
                )
            await self._send_cancels()
            await self._start_segments(engine.starts(self._now()))
            await self._write()
            self._record_metrics()
            try:
                await workflow.wait_condition(
                    lambda: bool(self.inbox) or self._kick, timeout=engine.wall_time_left(self._now())
                )
            except TimeoutError:
                pass
            self._kick = False
            engine.tick(self._now())
        if engine.stalled():
            raise ApplicationError(
                "search scheduler stalled: nothing running and no Finish", non_retryable=True
            )
        await self._write()  # everything in the record before the clean-up reads it
        engine.state.released_bytes = await release_checkpoints(
            self.request, [], engine.state.scope, keep_from_record=True
        )
        engine.done = True
        await self._store(engine.final_batch(self.request.sweep_id, self._slim()))
        self._record_metrics(force=True)
        if self.request.search_attributes:
            workflow.upsert_search_attributes([search_attributes.STATE.value_set(engine.state_name())])
        return self.status()

    async def _begin(self) -> SweepEngine:
        request = self.request
        if request.carried:
            engine = SweepEngine.resume(request.carried)
            if request.extend is not None:
                try:
                    message = engine.reopened(request.extend)
                except ValueError as refusal:
                    # Refused before this run is the sweep's: its record keeps how it ended.
                    raise ApplicationError(str(refusal), type="ControlRefused", non_retryable=True) from None
                workflow.logger.info("sweep %s %s", request.sweep_id, message)
            self.engine = engine
            if request.extend is not None:
                # Later runs (continue-as-new) carry the extended state, not the command.
                self.request = request.model_copy(update={"extend": None})
                await self._write(status=self._slim())
            await self._fetch_proposals()
            return self.engine
        spec = request.spec
        # The search core first (pure): a configuration it refuses fails before data is prepared.
        SweepEngine.scheduler_for(spec)
        snapshot = None
        if spec.task.info.prepares_data:
            # Read and tokenize the data once, before any trial: a wrong field fails the sweep
            # with one message instead of failing every trial the same way.
            snapshot = await prepare_data(spec, request.queues, request.code)
        scope = workflow.info().first_execution_run_id
        self.engine = SweepEngine.start(
            spec,
            scope=scope,
            now=self._now(),
            snapshot=snapshot,
            prior=[(trial.params, trial.value) for trial in request.warm_start],
        )
        start = SweepStart(
            sweep_id=request.sweep_id, scope=scope, request=request, snapshot=snapshot, started_at=self._now()
        )
        await self._write(start=start, status=self._slim())
        await self._fetch_proposals()
        return self.engine

    def _now(self) -> float:
        return workflow.now().timestamp()

    def _time_to_continue_as_new(self) -> bool:
        info = workflow.info()
        limit = self.request.continue_as_new_after or DEFAULT_CONTINUE_AS_NEW_AFTER
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

    # ---- results and proposals -------------------------------------------------------------------
    def deliver(self) -> None:
        self._kick = True

    async def _take_results(self) -> None:
        """Every result received so far, applied; returns with the inbox empty and no search
        call waiting for a proposal (results that arrive while one is fetched are taken too)."""
        engine = self._engine
        while True:
            while self.inbox:
                ignored = engine.on_result(self.inbox.pop(0), self._now())
                if ignored:
                    workflow.logger.warning(ignored)
            if not await self._fetch_proposals():
                return

    async def _fetch_proposals(self) -> bool:
        engine = self._engine
        fetched = False
        while (asked := engine.proposal_needed()) is not None:
            params = await fetch_proposal(asked, self.request.sweep_id, self.request.queues.sweep)
            engine.offer(asked, params)
            fetched = True
        return fetched

    # ---- commands --------------------------------------------------------------------------------
    async def _start_segments(self, starts: list[StartSegment]) -> None:
        if workflow.patched("start-together"):
            # Every start's command goes out in this one workflow task (in the order the engine
            # asked): awaited one by one, each start cost a round trip to the server, which
            # bounded a sweep near 10 trials/s.
            await asyncio.gather(*(self._start_segment(start) for start in starts))
        else:
            for start in starts:
                await self._start_segment(start)

    async def _start_segment(self, start: StartSegment) -> None:
        request, state = self.request, self._engine.state
        try:
            await workflow.start_child_workflow(
                TrialWorkflow.run,
                TrialRequest(
                    sweep_id=request.sweep_id,
                    trial_id=start.trial_id,
                    spec=state.spec,
                    snapshot=state.snapshot,
                    params=start.params,
                    rung=start.rung,
                    fidelity=start.fidelity,
                    queues=request.queues,
                    code=request.code,
                    scope=state.scope,
                    report_to=request.sweep_id,
                    recorded=True,
                ),
                id=trial_workflow_id(request.sweep_id, start.trial_id, start.rung),
                task_queue=request.queues.sweep,
                # The trial outlives this run of the sweep when it continues-as-new (its result
                # arrives by signal at whichever run is current); when the sweep ends any other
                # way its trials notice (the training activity watches the sweep) and stop.
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=self._trial_attributes() if request.search_attributes else None,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info(
                "trial %s rung %d was already started; awaiting its result", start.trial_id, start.rung
            )

    def _trial_attributes(self) -> Any:
        return search_attributes.sweep_attributes(self.request.sweep_id, self._engine.state.spec, "running")

    async def _send_cancels(self) -> None:
        for trial_id, rung in self._engine.cancels():
            handle = workflow.get_external_workflow_handle(
                trial_workflow_id(self.request.sweep_id, trial_id, rung)
            )
            try:
                await handle.cancel()
            except Exception as error:  # the trial ended meanwhile: its result is on its way
                workflow.logger.info("cancel of %s: %s", trial_id, error)

    async def _write(self, **extra: Any) -> None:
        batch = self._engine.take_batch(self.request.sweep_id, **extra)
        if batch is not None:
            await self._store(batch)

    async def _store(self, batch: RecordBatch) -> None:
        await workflow.execute_activity(
            stubs.write_record,
            batch,
            task_queue=self.request.queues.sweep,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=timedelta(hours=6),
            retry_policy=RECORD_RETRY,
        )
        self._engine.written()

    async def _fail(self, reason: str, state: str = "failed") -> None:
        """The sweep ends badly: its running segments are cancelled (they checkpoint and end)
        and the record says how it ended."""
        engine = self.engine
        if engine is None:
            return
        engine.fail(reason)
        try:
            await self._send_cancels()
            status = self._slim().model_copy(update={"state": state})
            await self._write(status=status)
        except Exception as error:  # the sweep fails with its own reason, not the clean-up's
            workflow.logger.warning("could not record how the sweep ended: %s", error)

    # ---- what it shows -----------------------------------------------------------------------------
    @property
    def _engine(self) -> SweepEngine:
        assert self.engine is not None
        return self.engine

    def status(self) -> SweepStatus:
        if self.engine is None:
            raise ApplicationError("the sweep is still starting (preparing its data); ask again in a moment")
        return self.engine.status(self.request.sweep_id, self.request.code)

    def _slim(self) -> SweepStatus:
        return self._engine.status(self.request.sweep_id, self.request.code, slim=True)

    def validate(self, command: ControlRequest) -> None:
        if self.engine is None:
            raise ApplicationError(
                "the sweep is still starting; try again in a moment",
                type="ControlRefused",
                non_retryable=True,
            )
        try:
            self.engine.validate(command)
        except ValueError as refusal:
            # An ApplicationError's message reaches the client as it is.
            raise ApplicationError(str(refusal), type="ControlRefused", non_retryable=True) from None

    def control(self, command: ControlRequest) -> ControlResult:
        self.validate(command)
        try:
            result = self._engine.control(command)
        except SearchFailed as error:
            raise ApplicationError(str(error), type="InvalidSearch", non_retryable=True) from None
        self._kick = True
        if self.request.search_attributes:
            # The Web UI and `hpo sweep list` see paused / stopping / running as it changes.
            workflow.upsert_search_attributes([search_attributes.STATE.value_set(result.state)])
        return result

    def _record_metrics(self, force: bool = False) -> None:
        now = self._now()
        if not force and now - self._metrics_at < METRICS_EVERY_S:
            return
        self._metrics_at = now
        counts, seconds, best = self._engine.metrics()
        sweep_metrics.record_values(self.request.sweep_id, counts, seconds, best)
