"""Whether the sweep a training segment belongs to still runs, so no trial outlives its sweep.

A sweep's trials are child workflows it abandons (they must outlive each run of it across
continue-as-new), so when the sweep ends any other way than completing (terminated by hand,
failed, timed out, cancelled, deleted) nothing in Temporal tells them. The training activity
asks instead: its heartbeat thread polls `ended()`, which asks Temporal for the sweep's state
at most every EVERY_S seconds, in the background, from a client of this trial process's own
(the activity is synchronous, in a process of the worker's pool: the worker's client is not
here). Once the sweep is gone the segment is told to stop (`trial.should_stop()`): it
checkpoints and ends, releasing its worker, and its trial workflow writes how it ended to the
sweep's record. A Temporal that does not answer is not taken for an ended sweep.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from hpo.contracts.settings import Settings

EVERY_S = 15.0
ASK_TIMEOUT_S = 10.0


class _Loop:
    """One event loop thread and one client per trial process, shared by its segments."""

    _lock = threading.Lock()
    _instance: _Loop | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="hpo-sweep-watch", daemon=True).start()
        self._client: Client | None = None

    @classmethod
    def get(cls, settings: Settings) -> _Loop:
        with cls._lock:
            if cls._instance is None or cls._instance.settings.temporal_address != settings.temporal_address:
                cls._instance = cls(settings)
            return cls._instance

    async def status(self, sweep_id: str) -> str | None:
        """ "running", an ended state, or "gone" (no such workflow); None when unknown."""
        if self._client is None:
            from hpo.connections.temporal import connect

            self._client = await connect(self.settings)
        try:
            described = await self._client.get_workflow_handle(sweep_id).describe(
                rpc_timeout=timedelta(seconds=ASK_TIMEOUT_S)
            )
        except RPCError as error:
            return "gone" if error.status == RPCStatusCode.NOT_FOUND else None
        status = described.status
        if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW, None):
            return "running"
        return status.name.lower().replace("canceled", "cancelled")


class SweepWatch:
    def __init__(self, settings: Settings, sweep_id: str, every_s: float = EVERY_S) -> None:
        self.settings = settings
        self.sweep_id = sweep_id
        self.every_s = every_s
        self._asked_at = -float("inf")
        self._pending: Future[str | None] | None = None
        self.reason: str | None = None  # why the segment must stop, once the sweep has ended

    def ended(self) -> str | None:
        """Why the segment must stop (its sweep has ended), else None. Never blocks."""
        if self.reason is not None:
            return self.reason
        pending = self._pending
        if pending is not None and pending.done():
            self._pending = None
            try:
                state = pending.result()
            except Exception:  # Temporal unreachable, a client that cannot connect: ask again later
                state = None
            if state is not None and state != "running":
                what = "is gone from Temporal" if state == "gone" else f"has ended ({state})"
                self.reason = f"its sweep {self.sweep_id} {what}"
                return self.reason
        now = time.monotonic()
        if self._pending is None and now - self._asked_at >= self.every_s:
            self._asked_at = now
            loop = _Loop.get(self.settings)
            self._pending = asyncio.run_coroutine_threadsafe(loop.status(self.sweep_id), loop.loop)
        return None
