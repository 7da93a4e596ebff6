"""What a sweep's engine shows (its status for queries) and writes (the pieces of its record).
Part of SweepEngine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.contracts.messages import CodeRef, RecordBatch, SweepStart, SweepStatus, TrialResult, ranked_trials
from hpo.engine import ledger
from hpo.engine.state import FULL_TABLE_LIMIT, EngineState
from hpo.engine.trial_table import with_running


class Views:
    # Provided by SweepEngine (hpo.engine.core).
    state: EngineState
    scheduler: Any
    search: Any
    done: bool
    _in_flight: RecordBatch | None

    if TYPE_CHECKING:  # the rest of SweepEngine that these methods call

        def carry(self) -> str: ...

        def _shown_table(self) -> dict[str, TrialResult]: ...

    def take_batch(
        self,
        sweep_id: str,
        *,
        start: SweepStart | None = None,
        status: SweepStatus | None = None,
    ) -> RecordBatch | None:
        """The next piece of the record (None: nothing to write); `written()` once it is stored."""
        state = self.state
        assert self._in_flight is None
        if not state.unrecorded and start is None and status is None:
            return None
        batch = RecordBatch(
            sweep_id=sweep_id,
            scope=state.scope,
            seq=state.record_seq,
            events=state.unrecorded,
            start=start,
            status=status,
        )
        state.unrecorded = []
        state.record_seq += 1
        self._in_flight = batch
        return batch

    def final_batch(self, sweep_id: str, status: SweepStatus) -> RecordBatch:
        """The last piece of this run of the sweep: what is left to write, its status, and the
        compact state `hpo sweep extend` goes on from (which continues after this piece)."""
        state = self.state
        assert self._in_flight is None
        events, state.unrecorded = state.unrecorded, []
        seq = state.record_seq
        state.record_seq += 1
        carried = self.carry()
        batch = RecordBatch(
            sweep_id=sweep_id, scope=state.scope, seq=seq, events=events, status=status, carried=carried
        )
        self._in_flight = batch
        return batch

    def written(self) -> None:
        self._in_flight = None

    def write_failed(self) -> None:
        """The piece in flight could not be stored: its events go into the next one."""
        batch = self._in_flight
        if batch is None:
            return
        self._in_flight = None
        self.state.unrecorded = [*batch.events, *self.state.unrecorded]
        self.state.record_seq = batch.seq

    # ---- what it shows ------------------------------------------------------------------------
    def state_name(self) -> str:
        state = self.state
        if self.done:
            return "stopped" if state.stopping else "completed"
        if state.stopping:
            return "stopping"
        return "paused" if state.paused else "running"

    def status(self, sweep_id: str, code: CodeRef | None = None, *, slim: bool = False) -> SweepStatus:
        """What queries answer: the table (bounded, see EngineState.table) with the running
        segments, and the events the record does not hold yet. `slim`: no trials (the record's
        own copy of the sweep's status: its trials are the record's events)."""
        state = self.state
        spec = state.spec
        running = [
            TrialResult(
                trial_id=r.trial_id,
                params=r.params,
                status="running",
                rung=r.segment.rung,
                segments=[r.segment],
            )
            for r in state.running.values()
        ]
        everything = [] if slim else list(with_running(self._shown_table(), running).values())
        ranked = ranked_trials(everything, spec.mode)
        best = ranked[0] if ranked and ranked[0].objective is not None else None
        money = None
        if everything and state.trials_created <= FULL_TABLE_LIMIT:
            try:
                money = ledger.summarize(everything, spec)
            except Exception:  # a query must answer even if the ledger cannot
                money = None
        unrecorded = [*(self._in_flight.events if self._in_flight else []), *state.unrecorded]
        return SweepStatus(
            sweep_id=sweep_id,
            name=spec.name,
            spec=spec,
            state=self.state_name(),  # type: ignore[arg-type]
            objective_metric=spec.metric,
            mode=spec.mode,
            trials=sorted(everything, key=lambda trial: trial.trial_id),
            best_trial_id=best.trial_id if best else None,
            train_seconds=state.totals.seconds,
            released_bytes=state.released_bytes,
            code=code,
            stop_reason=state.stop_reason,
            money=money,
            counts=dict(sorted(state.counts.items())),
            trials_total=state.trials_created,
            trials_planned=spec.trials,
            max_concurrent=spec.max_concurrent,
            scope=state.scope,
            runs=state.runs,
            recorded=True,
            unrecorded=[] if slim else unrecorded,
            record_seq=self._in_flight.seq if self._in_flight else state.record_seq,
        )

    def metrics(self) -> tuple[dict[str, int], float, float | None]:
        """(trials by status, accelerator-seconds, best objective) for the sweep's gauges."""
        ranked = ranked_trials(list(self.state.table.values()), self.state.spec.mode)
        best = ranked[0].objective if ranked and ranked[0].objective is not None else None
        return dict(self.state.counts), self.state.totals.seconds, best
