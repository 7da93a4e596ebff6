"""Follow a running sweep: events as they happen, and live lines for the running trials.

The sweep's own query gives the trials and their segments; each running segment's latest
heartbeat (step, reported metrics) comes from Temporal's description of its trial workflow,
so following costs the workers nothing. On a terminal the running trials are a live table
under the events; in a log (CI, `tee`) they are printed every LOG_EVERY_S seconds instead.

Following never matters to the sweep: when the Temporal server goes away (a restart, a
network blip) the follower says so once, waits for it to come back and goes on.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TerminatedError,
    TimeoutError,
)
from temporalio.service import RPCError, RPCStatusCode

from hpo.cli.ui import UserError, root_cause
from hpo.contracts.messages import SweepStatus, TrialResult, trial_workflow_id
from hpo.contracts.segment_details import SegmentDetails
from hpo.results.leaderboard import running_line, sweep_events, sweep_summary

POLL_S = 2.0
LOG_EVERY_S = 30.0
# Waits between two looks for a lost server: 1, 2, 4, 8, 10, 10 ... seconds.
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
HEALTH_TIMEOUT = timedelta(seconds=5)

T = TypeVar("T")


class SweepFailed(UserError):
    """The sweep itself ended badly (failed, terminated, cancelled, timed out): exit code 1,
    unlike a UserError, which is the command's own fault. ``status``, when known, is what the
    sweep had when it ended (state "failed", the reason in stop_reason): `--output` writes it."""

    def __init__(self, message: str, status: SweepStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


async def ended_badly(handle: WorkflowHandle[Any, Any], error: WorkflowFailureError) -> str:
    """One line for a sweep whose workflow did not complete: "sweep X failed: <root cause>"."""
    sweep_id = handle.id
    cause = error.cause
    if isinstance(cause, TerminatedError):
        return f"sweep {sweep_id} was terminated: {await _termination_reason(handle) or 'no reason given'}"
    if isinstance(cause, CancelledError):
        return f"sweep {sweep_id} was cancelled" + (f": {cause.message}" if cause.message else "")
    if isinstance(cause, TimeoutError):
        return f"sweep {sweep_id} timed out (its workflow execution timeout)"
    return f"sweep {sweep_id} failed: {failure_cause(error)}"


async def _termination_reason(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The reason given to `terminate` (in the close event; the failure says only "terminated")."""
    try:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            if event.HasField("workflow_execution_terminated_event_attributes"):
                return event.workflow_execution_terminated_event_attributes.reason or None
    except RPCError:
        pass
    return None


def failure_cause(error: BaseException) -> str:
    """A remote failure's chain (workflow -> child workflow -> activity -> application error)
    unwrapped to its root cause's message, said once: never the traceback a process pool
    attaches to an activity's exception, nor the wrappers' "Activity task failed". It names the
    trial whose workflow failed, and the type of a Python built-in error ("KeyError: 'x'"), whose
    message alone says little; hpo's own kinds (DatasetError, TrainingError ...) say it all."""
    chain = _chain(error)
    trial = next((t for t in map(_trial_of, chain) if t), None)
    readable = [e for e in chain if _message(e) and not _is_traceback(_message(e)) and not _wrapper(e)]
    if readable:
        cause = readable[-1]
        message = _message(cause)
        if isinstance(cause, ApplicationError) and _builtin_error(cause.type):
            message = f"{cause.type}: {message}"
    else:
        tracebacks = [_message(e) for e in chain if _is_traceback(_message(e))]
        message = _last_line(tracebacks[-1]) if tracebacks else _message(chain[-1]) or root_cause(error)
    if trial and f"trial {trial}" not in message:
        message = f"trial {trial}: {message}"
    return message


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = getattr(current, "cause", None) or current.__cause__
    return chain


def _message(error: BaseException) -> str:
    return str(error.message if isinstance(error, FailureError) else error).strip()


def _is_traceback(message: str) -> bool:
    return "Traceback (most recent call last)" in message


def _last_line(text: str) -> str:
    """A traceback's last line: the exception and its message."""
    lines = [line.strip() for line in text.replace('"""', "").splitlines() if line.strip()]
    return lines[-1] if lines else text


def _wrapper(error: BaseException) -> bool:
    """Temporal's own layers around a cause: their messages say only where it failed."""
    return isinstance(error, (WorkflowFailureError, ChildWorkflowError, ActivityError))


def _builtin_error(name: str | None) -> bool:
    found = getattr(builtins, name or "", None)
    return isinstance(found, type) and issubclass(found, BaseException)


def _trial_of(error: BaseException) -> str | None:
    """The trial of a failed trial workflow (its id is SWEEP.TRIAL.rRUNG)."""
    if isinstance(error, ChildWorkflowError):
        found = re.search(r"\.(t\d+)\.r\d+$", error.workflow_id)
        return found.group(1) if found else None
    return None


def _reason(failure: str, sweep_id: str) -> str:
    """ended_badly's line without its "sweep X" subject: what a status's stop_reason says."""
    return failure.removeprefix(f"sweep {sweep_id} ")


def marked_failed(status: SweepStatus, failure: str) -> SweepStatus:
    """What a sweep that ended badly last answered with, marked failed with ended_badly's reason."""
    return status.model_copy(update={"state": "failed", "stop_reason": _reason(failure, status.sweep_id)})


async def ended_status(
    client: Client, handle: WorkflowHandle[Any, SweepStatus], failure: str
) -> SweepStatus | None:
    """What can be said of a sweep that ended badly (``failure``: ended_badly's line) when it
    cannot be asked (a query replays a failed workflow into its failure, or it never answered):
    its spec, from the input its run started with."""
    from hpo.contracts.messages import SweepRequest

    try:
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (request,) = await client.data_converter.decode(payloads, [SweepRequest])
            break
        else:
            return None
    except Exception:  # an input from another version of hpo: the reason alone will do
        return None
    spec = request.spec
    return SweepStatus(
        sweep_id=request.sweep_id, name=spec.name, spec=spec, state="failed",
        objective_metric=spec.objective.metric, mode=spec.objective.mode, trials=[],
        stop_reason=_reason(failure, request.sweep_id), code=request.code,
    )  # fmt: skip


def lost_server(error: BaseException) -> bool:
    """The server is out of reach (down, restarting, the network), as opposed to an answer."""
    if isinstance(error, RPCError):
        if error.status == RPCStatusCode.UNAVAILABLE:
            return True
        message = error.message.lower()
        return error.status in (RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED) and any(
            word in message for word in ("connect", "transport", "broken pipe", "reset")
        )
    if isinstance(error, RuntimeError):  # a client that never connected: "Failed client connect"
        return "client connect" in str(error) or "connect error" in str(error)
    return isinstance(error, ConnectionError)


class Reconnector:
    """Rides out a lost Temporal server: one line when it goes, "reconnected" when a call
    gets through again; gives up with a UserError after `timeout_s` without it.

    The SDK's client reconnects by itself on its next call once the server listens again, so
    waiting is all there is to do; a health check with no retries tells when to try again.
    """

    def __init__(
        self, client: Client, console: Console, address: str, sweep_id: str, timeout_s: float = 600.0
    ) -> None:
        self.client = client
        self.console = console
        self.address = address
        self.sweep_id = sweep_id
        self.timeout_s = timeout_s
        self.lost_at: float | None = None
        self.outages = 0

    async def recover(self, error: BaseException) -> None:
        """Wait until the server answers a health check again (or give up)."""
        if self.lost_at is None:
            self.lost_at = time.monotonic()
            self.outages += 1
            self.console.print(
                f"lost Temporal at {self.address}; reconnecting (the sweep goes on in the workers) …"
            )
        delay = FIRST_BACKOFF_S
        while True:
            remaining = self.lost_at + self.timeout_s - time.monotonic()
            if remaining <= 0:
                raise UserError(self.gave_up(error))
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_BACKOFF_S)
            if await self._healthy():
                return

    async def _healthy(self) -> bool:
        try:
            return await self.client.service_client.check_health(retry=False, timeout=HEALTH_TIMEOUT)
        except Exception:  # refused, reset, not serving yet: still away
            return False

    def reached(self) -> None:
        """A call got through: the end of an outage, if there was one."""
        if self.lost_at is not None:
            self.lost_at = None
            self.console.print("reconnected")

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """`await make()`, again after each outage, until it answers."""
        while True:
            try:
                answer = await make()
            except Exception as error:
                if not lost_server(error):
                    raise
                await self.recover(error)
                continue
            self.reached()
            return answer

    def gave_up(self, error: BaseException) -> str:
        reason = error.message if isinstance(error, RPCError) else str(error)
        return (
            f"lost Temporal at {self.address} for {self.timeout_s:.0f}s ({reason}); the sweep "
            f"{self.sweep_id} may still be running in the workers: once Temporal is back, follow it "
            f"again with `hpo sweep watch {self.sweep_id}` (or look with `hpo sweep status "
            f"{self.sweep_id}`); HPO_RECONNECT_TIMEOUT_S sets how long to wait"
        )


async def live_details(client: Client, sweep_id: str, trial: TrialResult) -> SegmentDetails | None:
    """The latest heartbeat of a running trial's training segment (its step, metrics, ...)."""
    child = trial_workflow_id(
        sweep_id, trial.trial_id, trial.segments[-1].rung if trial.segments else trial.rung
    )
    try:
        description = await client.get_workflow_handle(child).describe()
    except RPCError:
        return None
    for pending in description.raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            decoded = await client.data_converter.decode(pending.heartbeat_details.payloads)
            details = SegmentDetails.read(decoded[0]) if decoded else None
            if details is not None:
                return details
    return None


def summary_line(status: SweepStatus) -> str:
    """The sweep in one line, and what it is doing besides running: paused, stopping (why)."""
    line = sweep_summary(status)
    if status.state == "paused":
        return f"{line}; PAUSED (`hpo sweep resume {status.sweep_id}` goes on)"
    if status.state == "stopping":
        return f"{line}; STOPPING" + (f" ({status.stop_reason})" if status.stop_reason else "")
    return line


class Follower:
    """Prints what changed between two looks at a sweep, and renders its running trials."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: dict[str, tuple[str, int]] = {}
        self.last_log = 0.0
        self.state: str | None = None
        self.planned: int | None = None
        self.concurrency: int | None = None

    def events(self, status: SweepStatus) -> list[str]:
        lines = self._sweep_events(status)
        for trial in status.trials:
            lines += sweep_events(trial, self.seen.get(trial.trial_id), status.objective_metric)
            self.seen[trial.trial_id] = (trial.status, len(trial.segments))
        return lines

    def _sweep_events(self, status: SweepStatus) -> list[str]:
        """The sweep's own changes: paused, resumed, stopping, stopped, extended."""
        lines = []
        sweep = f"sweep {status.sweep_id}"
        if status.state != self.state:
            if status.state == "paused":
                lines.append(f"{sweep} paused: running trials finish, no new ones start")
            elif status.state == "running" and self.state == "paused":
                lines.append(f"{sweep} resumed")
            elif status.state == "stopping":
                lines.append(
                    f"{sweep} stopping: {status.stop_reason or 'no reason given'}; running trials checkpoint and end"
                )
            elif status.state == "stopped":
                lines.append(f"{sweep} stopped: {status.stop_reason or 'no reason given'}")
            self.state = status.state
        if status.trials_planned:
            if self.planned is not None and status.trials_planned != self.planned:
                lines.append(f"{sweep} now plans {status.trials_planned} trials (was {self.planned})")
            self.planned = status.trials_planned
        if status.max_concurrent:
            if self.concurrency is not None and status.max_concurrent != self.concurrency:
                lines.append(
                    f"{sweep} now runs up to {status.max_concurrent} trials at once (was {self.concurrency})"
                )
            self.concurrency = status.max_concurrent
        return lines

    @staticmethod
    def board(status: SweepStatus, live: dict[str, SegmentDetails | None]) -> Group:
        now = time.time()
        running = [t for t in status.trials if t.status == "running"]
        lines = [Text(summary_line(status), style="bold")]
        lines += [Text("  " + running_line(t, live.get(t.trial_id), now)) for t in running]
        return Group(*lines)


async def follow(
    client: Client,
    handle: WorkflowHandle[Any, SweepStatus],
    console: Console,
    check: Any = None,
    *,
    address: str = "Temporal",
    reconnect_timeout_s: float = 600.0,
) -> SweepStatus:
    """Until the sweep's result is in: events and live progress; then its final status.
    `check()` runs every poll (e.g. the embedded stack's liveness). A lost server is waited
    for (see Reconnector); a sweep that did not complete raises SweepFailed."""
    follower = Follower(console)
    link = Reconnector(client, console, address, handle.id, reconnect_timeout_s)
    last: SweepStatus | None = None  # the newest status the sweep answered with
    result = asyncio.ensure_future(handle.result())
    live_view = Live(console=console, refresh_per_second=2, transient=True) if console.is_terminal else None
    try:
        if live_view is not None:
            live_view.start()
        while True:
            await asyncio.wait({result}, timeout=POLL_S)
            if check is not None:
                check()
            if result.done():
                error = result.exception()
                if error is None:
                    break
                if not lost_server(error):
                    raise error
                # The long poll for the result broke with the connection: poll again once back.
                await link.recover(error)
                result = asyncio.ensure_future(handle.result())
                continue
            try:
                status = await handle.query("status", result_type=SweepStatus)
            except RPCError as error:
                if lost_server(error):
                    await link.recover(error)
                continue  # e.g. no sweep worker answering yet
            except WorkflowQueryFailedError:
                continue  # e.g. the sweep is failing: its result says why
            link.reached()
            last = status
            for line in follower.events(status):
                say(console, line)
            running = [t for t in status.trials if t.status == "running"]
            live = {t.trial_id: await live_details(client, status.sweep_id, t) for t in running}
            board = follower.board(status, live)
            if live_view is not None:
                live_view.update(board)
            elif running and time.monotonic() - follower.last_log >= LOG_EVERY_S:
                follower.last_log = time.monotonic()
                console.print(board)
    except WorkflowFailureError as error:
        failure = await ended_badly(handle, error)
        if last is not None:
            ended = marked_failed(last, failure)
        else:  # it failed before it answered a query (e.g. preparing its dataset)
            ended = await ended_status(client, handle, failure)
        raise SweepFailed(failure, ended) from None
    finally:
        if not result.done():
            result.cancel()
        if live_view is not None:
            live_view.stop()
    link.reached()
    final: SweepStatus = result.result()
    for line in follower.events(final):
        say(console, line)
    return final


def say(console: Console, line: str) -> None:
    """An event line as written: a failure's message may hold "[...]" (not markup) and must not
    break into pieces at the console's width (a log is grepped for it)."""
    console.print(line, markup=False, soft_wrap=True)
