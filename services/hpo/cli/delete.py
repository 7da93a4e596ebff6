"""`hpo sweep delete SWEEP_ID [--yes]`: remove an ended sweep from S3 and from Temporal.

S3 loses the sweep's record, checkpoints and curves, and the code archive and snapshot no
other sweep's record names (hpo.storage.deletion); Temporal loses the sweep's closed
workflow executions (every run of the sweep workflow, its trial and predict workflows), so
neither `sweep list` nor the Web UI shows a sweep whose objects are gone. A running sweep is
refused: it would go on writing what this deletes.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import TextIO

from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from hpo.cli.commands import preflight
from hpo.cli.ui import UserError, console
from hpo.contracts.settings import Settings
from hpo.storage import deletion
from hpo.storage.s3 import ObjectStore

# Deletes sent at once: a sweep of thousands of trials holds thousands of executions.
PARALLEL_DELETES = 16
# Not closed: deleting one of these would terminate it.
LIVE = (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)


@dataclass(frozen=True)
class Execution:
    workflow_id: str
    run_id: str


def executions_query(sweep_id: str) -> str:
    """The sweep workflow (every run) and its trial (`ID.t0001.r0`) and predict workflows.
    Sweep ids hold no dots (hpo.contracts.spec.SWEEP_ID), so `ID.` names no other sweep's workflows."""
    return f'WorkflowId = "{sweep_id}" OR WorkflowId STARTS_WITH "{sweep_id}."'


async def closed_executions(client: Client, sweep_id: str) -> list[Execution]:
    """The sweep's workflow executions Temporal still holds; UserError if any is running."""
    try:
        # Visibility lags a just-started workflow; describe does not, so a sweep started a
        # moment ago is still refused.
        described = await client.get_workflow_handle(sweep_id).describe()
        if described.status in LIVE:
            raise UserError(
                f"sweep {sweep_id} is still running; stop it first (`hpo sweep stop {sweep_id}`), "
                "then delete it once it has ended"
            )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    found: list[Execution] = []
    async for execution in client.list_workflows(executions_query(sweep_id)):
        if execution.status in LIVE and await _still_live(client, execution.id, execution.run_id):
            raise UserError(
                f"workflow {execution.id} of sweep {sweep_id} is still running; wait for it to end "
                f"(or `temporal workflow terminate --workflow-id {execution.id}`), then delete the sweep"
            )
        found.append(Execution(execution.id, execution.run_id))
    return found


async def _still_live(client: Client, workflow_id: str, run_id: str) -> bool:
    """Visibility can still say "running" a moment after a trial ended (`hpo sweep stop`, then
    delete at once); the execution itself is the authority."""
    try:
        described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status in LIVE


async def delete_executions(client: Client, executions: list[Execution]) -> list[str]:
    """Delete each execution; returns why some could not be (an execution already gone, e.g.
    by retention, is not a failure)."""
    limit = asyncio.Semaphore(PARALLEL_DELETES)

    async def delete(execution: Execution) -> str | None:
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=ExecutionRef(workflow_id=execution.workflow_id, run_id=execution.run_id),
        )
        async with limit:
            try:
                await client.workflow_service.delete_workflow_execution(request)
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    return None
                return f"{execution.workflow_id}: {error.message}"
        return None

    problems = await asyncio.gather(*(delete(execution) for execution in executions))
    return [problem for problem in problems if problem]


def confirm(question: str, stdin: TextIO) -> bool:
    console.print(f"{question} [y/N] ", end="", markup=False)
    answer = stdin.readline()  # "" at end of input: no
    return answer.strip().lower() in ("y", "yes")


def _interactive(stdin: TextIO) -> bool:
    try:
        return stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


def _executions_text(count: int) -> str:
    return f"{count} closed workflow execution{'s' if count != 1 else ''} in Temporal"


async def sweep_delete(settings: Settings, sweep_id: str, *, yes: bool, stdin: TextIO | None = None) -> int:
    stdin = stdin if stdin is not None else sys.stdin
    # Before any server is asked: a script without --yes must fail at once, never wait on a prompt.
    if not yes and not _interactive(stdin):
        raise UserError(
            f"not deleting sweep {sweep_id}: deleting asks for confirmation and stdin is not a "
            "terminal; pass --yes to delete without asking"
        )
    client = await preflight(settings)
    executions = await closed_executions(client, sweep_id)
    store = ObjectStore(settings)
    try:
        plan = deletion.gather(store, sweep_id)
    except deletion.StorageError as error:
        raise UserError(str(error)) from None
    if plan.objects == 0 and not executions:
        raise UserError(
            f"no sweep {sweep_id!r}: s3://{store.bucket} holds nothing under records/{sweep_id}/ or "
            f"trials/{sweep_id}/ and Temporal has no workflow {sweep_id}; `hpo sweep list --all` "
            "lists the sweeps Temporal holds"
        )
    for kept in plan.kept:
        console.print(f"keeping {kept.key}: {kept.reason}", markup=False)
    for key in plan.unreadable:
        console.print(
            f"{key} is not a readable sweep record: the code archive and snapshot it names, if "
            "any, stay (`hpo storage gc --dry-run` lists them)",
            markup=False,
        )
    if not plan.recorded and plan.objects:
        console.print(
            f"sweep {sweep_id} has no record: its code archive and snapshot, if it had any, are "
            "not known and stay (`hpo storage gc --dry-run` lists them)",
            markup=False,
        )
    what = plan.summary() if plan.objects else "nothing in S3"
    if executions:
        what += f" and {_executions_text(len(executions))}"
    if not yes and not confirm(f"delete sweep {sweep_id}: {what}?", stdin):
        console.print("nothing deleted")
        return 1
    try:
        remaining = deletion.execute(store, plan)
    except deletion.StorageError as error:
        raise UserError(str(error)) from None
    problems = await delete_executions(client, executions)
    if remaining or problems:
        said = [f"S3 kept {len(remaining)} object(s), e.g. {remaining[0]}"] if remaining else []
        said += [f"Temporal refused to delete {problems[0]}"] if problems else []
        raise UserError(
            f"sweep {sweep_id} was only partly deleted: {'; '.join(said)}; check the permissions, "
            f"then run `hpo sweep delete {sweep_id}` again"
        )
    # DeleteWorkflowExecution only schedules the deletion: the server drops them soon after.
    later = "; Temporal removes its workflow executions in the background" if executions else ""
    console.print(f"deleted sweep {sweep_id}: {what}{later}", markup=False)
    return 0
