"""`hpo sweep pause | resume | stop | cancel-trial | extend | list`: steer running sweeps.

Each steering command is one call of the sweep's `control` Update: the sweep validates it
(an unknown trial, a budget that would shrink) and answers with what it did, so the command
prints either the sweep's answer or its reason for refusing.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from hpo.cli.follow import failure_cause
from hpo.cli.ui import UserError, console
from hpo.connections.temporal import TemporalUnavailable, connect
from hpo.contracts import search_attributes
from hpo.contracts.messages import ControlRequest, ControlResult, SweepStatus
from hpo.contracts.settings import Settings
from hpo.results.sweep_view import RecordedSweep, RecordUnreadable, recorded_state, recorded_sweeps

# An update waits for a sweep worker to take it; none within this means none is running.
UPDATE_TIMEOUT = timedelta(seconds=30)
VERBS = {
    "pause": "pause",
    "resume": "resume",
    "stop": "stop",
    "cancel_trial": "cancel a trial of",
    "extend": "extend",
}
STATE_NAMES = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
}


async def _client(settings: Settings) -> Client:
    """Steering needs Temporal only (no S3)."""
    try:
        return await connect(settings)
    except TemporalUnavailable as error:
        raise UserError(str(error)) from None


async def _ended(handle: WorkflowHandle[Any, Any], sweep_id: str) -> str | None:
    """None while the sweep runs; else what it ended as ("completed", "stopped", "failed" ...)."""
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"no sweep {sweep_id!r}; `hpo sweep list --all` lists the sweeps") from None
        raise UserError(f"could not reach sweep {sweep_id}: {error.message}") from None
    if described.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return None
    if described.status == WorkflowExecutionStatus.COMPLETED:
        try:
            final: SweepStatus = await handle.result()
            return final.state
        except Exception:  # an older sweep's result: the workflow's own status says enough
            return "completed"
    return STATE_NAMES.get(described.status, "ended") if described.status else "ended"


async def control(settings: Settings, sweep_id: str, request: ControlRequest) -> int:
    """Send one steering command; print the sweep's answer (exit 0) or why it refused (2)."""
    client = await _client(settings)
    handle = client.get_workflow_handle(sweep_id, result_type=SweepStatus)
    verb = VERBS[request.action]
    try:
        ended = await _ended(handle, sweep_id)
    except UserError:
        if request.action != "extend":
            raise
        ended = "gone from Temporal"
    if (
        ended is not None
        and request.action == "extend"
        and ended in ("completed", "stopped", "gone from Temporal")
    ):
        from hpo.cli.extend import extend_ended

        return await extend_ended(client, settings, sweep_id, request)
    if ended is not None:
        raise UserError(f"sweep {sweep_id} has already ended ({ended}): there is nothing to {verb}")
    try:
        result: ControlResult = await handle.execute_update(
            "control", request, result_type=ControlResult, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        raise UserError(f"sweep {sweep_id} refused to {verb}: {failure_cause(error)}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise UserError(
            f"sweep {sweep_id} did not answer within {UPDATE_TIMEOUT.seconds}s; a sweep worker must be "
            f"polling task queue {settings.sweep_queue!r}: start one with `hpo up` or `hpo worker sweep`"
        ) from None
    except RPCError as error:
        ended = await _ended(handle, sweep_id)
        if ended is not None:  # it ended while the command was on its way
            raise UserError(
                f"sweep {sweep_id} has already ended ({ended}): there is nothing to {verb}"
            ) from None
        raise UserError(f"could not {verb} sweep {sweep_id}: {error.message}") from None
    console.print(result.message, markup=False)
    return 0


def extend_request(
    *,
    trials: int | None = None,
    max_cost: float | None = None,
    max_accelerator_hours: float | None = None,
    max_wall_time: float | None = None,
    max_concurrent: int | None = None,
    reason: str | None = None,
) -> ControlRequest:
    changes = {
        "trials": trials,
        "max_cost": max_cost,
        "max_accelerator_hours": max_accelerator_hours,
        "max_wall_time": max_wall_time,
        "max_concurrent": max_concurrent,
    }
    if all(value is None for value in changes.values()):
        raise UserError(
            "extend needs at least one of --trials, --max-cost, --max-accelerator-hours, "
            "--max-wall-time, --max-concurrent"
        )
    return ControlRequest(action="extend", reason=reason, **changes)


def _state(execution: WorkflowExecution) -> str:
    """The workflow's status, and hpo's own state when it says more ("running (paused)")."""
    state = STATE_NAMES.get(execution.status, "unknown") if execution.status else "unknown"
    hpo_state = execution.typed_search_attributes.get(search_attributes.STATE)
    return f"{state} ({hpo_state})" if hpo_state and hpo_state != state else state


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def list_query(include_finished: bool) -> str:
    query = 'WorkflowType="SweepWorkflow"'
    if include_finished:
        # A sweep that continued-as-new leaves one closed run per continuation: show its current one.
        return query + ' AND ExecutionStatus!="ContinuedAsNew"'
    return query + ' AND ExecutionStatus="Running"'


# Records read at once for `sweep list --all` (each read fetches its pieces in parallel too).
RECORDS_AT_ONCE = 4


@dataclass
class _Row:
    sweep_id: str
    state: str
    started: float  # unix seconds
    name: str


async def list_sweeps(settings: Settings, include_finished: bool, limit: int) -> int:
    """The sweeps Temporal holds, newest first; with `include_finished`, also those that exist
    only in their record in S3 (Temporal's retention or `temporal workflow delete` dropped
    their workflows), marked "(record only)"."""
    client = await _client(settings)
    try:
        executions = [e async for e in client.list_workflows(list_query(include_finished), limit=limit)]
    except RPCError as error:
        raise UserError(f"could not list sweeps: {error.message}") from None
    rows = [
        _Row(
            e.id,
            _state(e),
            e.start_time.timestamp(),
            e.typed_search_attributes.get(search_attributes.SWEEP_NAME) or "-",
        )
        for e in executions
    ]
    notes: list[str] = []
    if include_finished:
        try:
            found, damaged = await asyncio.to_thread(recorded_sweeps, settings, {e.id for e in executions})
        except RecordUnreadable as error:
            notes.append(f"sweeps that exist only in their record are not listed: {error}")
        else:
            rows += await _record_only(client, settings, found, rows, limit)
            notes += [f"not listed: {problem}" for problem in damaged]
    rows = sorted(rows, key=lambda row: row.started, reverse=True)[:limit]
    if not rows:
        console.print(
            "no sweeps yet"
            if include_finished
            else "no running sweeps (`hpo sweep list --all` shows ended ones)"
        )
    else:
        table = Table(box=None, pad_edge=False)
        for column in ("id", "state", "started", "name"):
            table.add_column(column)
        for row in rows:
            table.add_row(row.sweep_id, row.state, _when(datetime.fromtimestamp(row.started, UTC)), row.name)
        console.print(table)
    for note in notes:
        console.print(Text(note, style="yellow"), soft_wrap=True)
    return 0


async def _record_only(
    client: Client, settings: Settings, found: list[RecordedSweep], rows: list[_Row], limit: int
) -> list[_Row]:
    """The rows of the recorded sweeps Temporal did not list that make the newest `limit`.
    Each is described first: one Temporal holds but did not list (started a moment ago, not
    yet visible; past the listing's limit) shows Temporal's state, not "record only"."""
    newest = sorted([*(r.started for r in rows), *(f.started_at for f in found)], reverse=True)
    cut = newest[limit - 1] if len(newest) >= limit else -math.inf
    shown = [f for f in found if f.started_at >= cut]
    at_once = asyncio.Semaphore(RECORDS_AT_ONCE)

    async def row(sweep: RecordedSweep) -> _Row:
        async with at_once:
            state = await _held_state(client, sweep.sweep_id)
            if state is None:
                state = f"{await asyncio.to_thread(recorded_state, settings, sweep.sweep_id)} (record only)"
        return _Row(sweep.sweep_id, state, sweep.started_at, sweep.name)

    return list(await asyncio.gather(*(row(sweep) for sweep in shown)))


async def _held_state(client: Client, sweep_id: str) -> str | None:
    """The state of the sweep's workflow in Temporal; None when Temporal holds none."""
    try:
        described = await client.get_workflow_handle(sweep_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise UserError(f"could not list sweeps: {error.message}") from None
    return STATE_NAMES.get(described.status, "unknown") if described.status else "unknown"
