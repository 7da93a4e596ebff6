"""`hpo sweep extend ID --trials N` of a sweep that has ended: it goes on from its record.

A running sweep is extended by its `control` update (control_command.py). One that completed
or stopped goes on as a new run of the same workflow id, from the compact state it recorded
when it ended: the same search state (a TPE keeps learning from every trial so far), the same
storage scope, new trials numbered after the old ones. It works after Temporal has dropped
the old history too: the record is all it needs.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from hpo.cli.ui import UserError, console
from hpo.contracts.messages import ControlRequest, SweepRequest, SweepStatus
from hpo.contracts.settings import Settings
from hpo.engine.control import check_extend
from hpo.engine.state import EngineState
from hpo.results.sweep_view import RecordUnreadable, _read

CONTINUABLE = ("completed", "stopped")


async def _in_temporal(client: Client, sweep_id: str) -> bool:
    try:
        await client.get_workflow_handle(sweep_id).describe()
    except RPCError:
        return False
    return True


async def extend_ended(client: Client, settings: Settings, sweep_id: str, command: ControlRequest) -> int:
    """Start the ended sweep again with the command's limits; print how to follow it."""
    try:
        record = _read(settings, sweep_id, None)
    except RecordUnreadable as error:
        raise UserError(str(error)) from None
    if record is None and not await _in_temporal(client, sweep_id):
        raise UserError(f"no sweep {sweep_id!r}; `hpo sweep list --all` lists the sweeps")
    if record is None:
        raise UserError(
            f"sweep {sweep_id} has ended and has no record to go on from (it ran on an hpo before "
            f"sweep records, or was deleted); start a new sweep with `warm_start: [{sweep_id}]` instead"
        )
    status = record.status
    carried = record.carried
    if status is None or status.state not in CONTINUABLE or carried is None:
        state = status.state if status is not None else "unknown"
        raise UserError(
            f"sweep {sweep_id} ended {state}, not completed or stopped: there is no finished state to go "
            f"on from; start a new sweep with `warm_start: [{sweep_id}]` instead"
        )
    if command.trials is None:
        raise UserError(
            f"sweep {sweep_id} has ended: extending it needs --trials (more than its {status.trials_planned})"
        )
    try:
        # The checks the sweep makes, here first: a refusal then costs no run of the workflow.
        check_extend(command, EngineState.unpack(carried))
    except ValueError as refusal:
        raise UserError(f"sweep {sweep_id} refused to extend: {refusal}") from None
    start = record.start
    request = SweepRequest(
        sweep_id=sweep_id,
        spec=status.spec,
        queues=start.request.queues,
        code=start.request.code,
        search_attributes=start.request.search_attributes,
        carried=carried,
        extend=command,
    )
    handle = client.get_workflow_handle(sweep_id)
    try:
        described = await handle.describe()
        if described.status == WorkflowExecutionStatus.RUNNING:
            raise UserError(f"sweep {sweep_id} is running again already; `hpo sweep extend` steers it")
    except RPCError:
        pass  # Temporal has dropped it: the record is enough
    try:
        await client.start_workflow(
            "SweepWorkflow",
            request,
            id=sweep_id,
            task_queue=settings.sweep_queue,
            result_type=SweepStatus,
            # The same sweep going on (its own record and checkpoints), not a second one under its id.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except RPCError as error:
        raise UserError(f"could not extend sweep {sweep_id}: {error.message}") from None
    planned = f"trials {status.trials_planned} → {command.trials}"
    console.print(f"extended ended sweep {sweep_id} ({status.state}): {planned}", markup=False)
    console.print(f"follow it with: hpo sweep watch {sweep_id}", markup=False)
    return 0
