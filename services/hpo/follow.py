"""Follow a running sweep: events as they happen, and live lines for the running trials.

The sweep's own query gives the trials and their segments; each running segment's latest
heartbeat (step, reported metrics) comes from Temporal's description of its trial workflow,
so following costs the workers nothing. On a terminal the running trials are a live table
under the events; in a log (CI, `tee`) they are printed every LOG_EVERY_S seconds instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from hpo.messages import SweepStatus, TrialResult
from hpo.report import running_line, sweep_events, sweep_summary

POLL_S = 2.0
LOG_EVERY_S = 30.0


async def live_details(client: Client, sweep_id: str, trial: TrialResult) -> dict[str, Any] | None:
    """The latest heartbeat of a running trial's training segment: {step, metrics, ...}."""
    child = f"{sweep_id}.{trial.trial_id}.r{trial.segments[-1].rung if trial.segments else trial.rung}"
    try:
        description = await client.get_workflow_handle(child).describe()
    except RPCError:
        return None
    for pending in description.raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            decoded = await client.data_converter.decode(pending.heartbeat_details.payloads)
            if decoded and isinstance(decoded[0], dict):
                return decoded[0]
    return None


class Follower:
    """Prints what changed between two looks at a sweep, and renders its running trials."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: dict[str, tuple[str, int]] = {}
        self.last_log = 0.0

    def events(self, status: SweepStatus) -> list[str]:
        lines = []
        for trial in status.trials:
            lines += sweep_events(trial, self.seen.get(trial.trial_id), status.objective_metric)
            self.seen[trial.trial_id] = (trial.status, len(trial.segments))
        return lines

    @staticmethod
    def board(status: SweepStatus, live: dict[str, dict[str, Any] | None]) -> Group:
        now = time.time()
        running = [t for t in status.trials if t.status == "running"]
        lines = [Text(sweep_summary(status), style="bold")]
        lines += [Text("  " + running_line(t, live.get(t.trial_id), now)) for t in running]
        return Group(*lines)


async def follow(
    client: Client, handle: WorkflowHandle[Any, SweepStatus], console: Console, check: Any = None
) -> None:
    """Until the sweep's result is in: events and live progress. `check()` runs every poll
    (e.g. the embedded stack's liveness)."""
    follower = Follower(console)
    result = asyncio.ensure_future(handle.result())
    live_view = Live(console=console, refresh_per_second=2, transient=True) if console.is_terminal else None
    try:
        if live_view is not None:
            live_view.start()
        while not result.done():
            await asyncio.wait({result}, timeout=POLL_S)
            if check is not None:
                check()
            try:
                status = await handle.query("status", result_type=SweepStatus)
            except RPCError:
                continue
            for line in follower.events(status):
                console.print(line)
            running = [t for t in status.trials if t.status == "running"]
            live = {t.trial_id: await live_details(client, status.sweep_id, t) for t in running}
            board = follower.board(status, live)
            if live_view is not None:
                live_view.update(board)
            elif running and time.monotonic() - follower.last_log >= LOG_EVERY_S:
                follower.last_log = time.monotonic()
                console.print(board)
    finally:
        if live_view is not None:
            live_view.stop()
    if not result.cancelled() and result.exception() is None:
        for line in follower.events(result.result()):
            console.print(line)
