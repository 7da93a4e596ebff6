"""A long sweep of trivial function trials on the embedded stack (real Temporal, real S3).

What a sweep of any length costs the orchestration itself. The stack is the one `hpo up`
brings up (a Temporal dev server on a SQLite file, the SeaweedFS S3 server, the training
worker and the sweep worker, each its own process); the sweep is random search over a trial
that returns its metric at once (bench/trivial/trivial.py), so nearly all the time is hpo's
and Temporal's: a child workflow per trial, one training activity, the result signal, the
sweep's record in S3.

Measured:
- runs: runs of the sweep workflow (its continue-as-new chain);
- longest_history_events: the longest history of any run (describe, per run id);
- max_carried_bytes: the largest `carried` state (base64 zlib) any run was started with,
  read from each run's WorkflowExecutionStarted input;
- sweep_worker_peak_mb: the sweep worker process's peak RSS (VmHWM in /proc);
- trials_per_s: trials / wall seconds from the start of the sweep to its result.

While the sweep runs it prints progress every --every seconds (trials done, runs so far, the
current run's history, the sweep worker's RSS), then one line per run, a CPU-seconds breakdown
per process and the SDK's task and activity latencies from the workers' /metrics; the last
line is

    trials=N runs=R longest_history_events=E max_carried_bytes=B sweep_worker_peak_mb=M trials_per_s=T

    .venv/bin/python bench/long_sweep.py --trials 2000 --max-concurrent 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.contracts.messages import Queues, SweepRequest, SweepStatus
from hpo.contracts.settings import Settings
from hpo.contracts.spec import parse_spec
from hpo.workers.stack import EmbeddedStack, free_port

TRIAL_CODE = Path(__file__).resolve().parent / "trivial"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- processes ------------------------------------------------------------------------------
def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a live process, in kB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its children that ended and were waited for."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children[int(fields[1])].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


# ---- the stack, with each worker's /metrics on its own port -----------------------------------
@dataclass
class BenchStack(EmbeddedStack):
    metrics_ports: dict[str, int] = field(default_factory=dict)
    _starting: str | None = None

    def start_worker(self, kind: str, *extra: str) -> Any:
        self._starting = kind
        try:
            return super().start_worker(kind, *extra)
        finally:
            self._starting = None

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        if self._starting in self.metrics_ports:
            env["HPO_METRICS_PORT"] = str(self.metrics_ports[self._starting])
        return env


METRIC_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")
KEY_LABELS = ("workflow_type", "activity_type", "task_queue")


def scrape_latencies(port: int) -> dict[tuple[str, str], tuple[float, float]]:
    """(metric, labels) -> (sum, count) of the SDK's latency histograms (milliseconds)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError as error:
        print(f"(no metrics on port {port}: {error})")
        return {}
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if not match or "latency" not in match["name"] or "long_request" in match["name"]:
            continue
        name = match["name"]
        if name.endswith("_sum"):
            slot, base = 0, name.removesuffix("_sum")
        elif name.endswith("_count"):
            slot, base = 1, name.removesuffix("_count")
        else:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        key = ",".join(f"{k}={labels[k]}" for k in KEY_LABELS if k in labels and k != "task_queue")
        sums[(base.removeprefix("temporal_"), key)][slot] += float(match["value"])
    return {key: (s, c) for key, (s, c) in sums.items() if c}


# ---- the runs of the sweep workflow ---------------------------------------------------------
@dataclass
class Run:
    run_id: str
    started: float
    closed: float | None = None
    history: int = 0
    history_bytes: int = 0
    carried_bytes: int = 0
    trials_created_before: int = 0
    carried_parts: dict[str, int] = field(default_factory=dict)  # JSON bytes of the state's parts


async def started_input(client: Any, sweep_id: str, run_id: str) -> dict[str, Any]:
    """The SweepRequest a run was started with: the first event of its history."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

    response = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=sweep_id, run_id=run_id),
            maximum_page_size=1,
        )
    )
    event = response.history.events[0]
    payload = event.workflow_execution_started_event_attributes.input.payloads[0]
    return json.loads(payload.data)


def carried_parts(carried: str) -> tuple[int, dict[str, int]]:
    from hpo.engine.state import EngineState

    state = EngineState.unpack(carried)
    dumped = json.loads(state.model_dump_json())
    parts = {key: len(json.dumps(value)) for key, value in dumped.items()}
    return state.trials_created, dict(sorted(parts.items(), key=lambda kv: -kv[1])[:4])


class Runs:
    def __init__(self, client: Any, sweep_id: str) -> None:
        self.client, self.sweep_id = client, sweep_id
        self.runs: dict[str, Run] = {}

    async def refresh(self) -> None:
        async for listed in self.client.list_workflows(f'WorkflowId = "{self.sweep_id}"'):
            run = self.runs.get(listed.run_id)
            if run is None:
                request = await started_input(self.client, self.sweep_id, listed.run_id)
                run = Run(listed.run_id, listed.start_time.timestamp())
                carried = request.get("carried") or ""
                run.carried_bytes = len(carried.encode())
                if carried:
                    run.trials_created_before, run.carried_parts = carried_parts(carried)
                self.runs[listed.run_id] = run
            if run.closed is None:
                described = await self.client.get_workflow_handle(self.sweep_id, run_id=run.run_id).describe()
                run.history = described.history_length
                run.history_bytes = described.raw_description.workflow_execution_info.history_size_bytes
                if described.close_time is not None:
                    run.closed = described.close_time.timestamp()

    @property
    def ordered(self) -> list[Run]:
        return sorted(self.runs.values(), key=lambda run: run.started)


async def wait_for_pollers(client: Any, settings: Settings, timeout: float = 300.0) -> None:
    """Until both workers poll (the training worker first starts its trial processes): the
    sweep's wall time is the sweep's, not the workers' start-up."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    started = time.monotonic()
    wanted = [
        (settings.training_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
        (settings.sweep_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    ]
    while wanted:
        queue, kind = wanted[0]
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind
            )
        )
        if described.pollers:
            wanted.pop(0)
            continue
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"no worker polls {queue} after {timeout:.0f} s")
        await asyncio.sleep(0.5)
    print(f"workers polling after {time.monotonic() - started:.0f} s", flush=True)


COMMAND_EVENTS = {
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "ACTIVITY_TASK_SCHEDULED",
    "MARKER_RECORDED",
    "TIMER_STARTED",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
    "WORKFLOW_EXECUTION_COMPLETED",
}


async def history_profile(client: Any, sweep_id: str, run_id: str) -> list[str]:
    """What one run's history is made of: events by type per trial started, and how many child
    workflows each workflow task started (the commands right after its WorkflowTaskCompleted)."""
    from collections import Counter

    from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause

    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    starts_per_task: Counter[int] = Counter()
    failed: Counter[str] = Counter()  # UNHANDLED_COMMAND: a signal came in as it continued-as-new
    in_commands, starts = False, 0
    async for event in client.get_workflow_handle(sweep_id, run_id=run_id).fetch_history_events():
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[name] += 1
        sizes[name] += event.ByteSize()
        if name == "WORKFLOW_TASK_FAILED":
            cause = WorkflowTaskFailedCause.Name(event.workflow_task_failed_event_attributes.cause)
            failed[cause.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")] += 1
        if in_commands and name in COMMAND_EVENTS:
            starts += name == "START_CHILD_WORKFLOW_EXECUTION_INITIATED"
            continue
        if in_commands:
            starts_per_task[starts] += 1
        in_commands, starts = name == "WORKFLOW_TASK_COMPLETED", 0
    if in_commands:
        starts_per_task[starts] += 1
    trials = max(counts["START_CHILD_WORKFLOW_EXECUTION_INITIATED"], 1)
    total = sum(counts.values())
    size = sum(sizes.values())
    lines = [
        f"  {total} events, {size / 1024:.0f} kB, {trials} trials started: "
        f"{total / trials:.2f} events and {size / trials:.0f} bytes per trial"
    ]
    lines += [
        f"    {name:50s} {n:6d} {n / trials:5.2f}/trial {sizes[name] / n:7.0f} B each"
        for name, n in counts.most_common()
    ]
    tasks = sum(starts_per_task.values())
    lines.append(
        f"  workflow tasks {tasks}; children started per task: "
        + ", ".join(f"{k}: {n}" for k, n in sorted(starts_per_task.items()))
    )
    if failed:
        lines.append(f"  failed workflow tasks by cause: {dict(failed)}")
    return lines


# ---- the sweep ------------------------------------------------------------------------------
def make_spec(trials: int, max_concurrent: int) -> Any:
    return parse_spec(
        {
            "name": "long",
            "task": {"entrypoint": "trivial:train", "code": str(TRIAL_CODE)},
            "space": {"x": {"type": "float", "low": -1.0, "high": 1.0}},
            "algorithm": "random",
            "trials": trials,
            "max_concurrent": max_concurrent,
            "objective": {"metric": "loss", "mode": "min"},
            "seed": 0,
            "training": {"max_steps": 1},
        }
    )


async def sweep(stack: BenchStack, args: argparse.Namespace) -> None:
    from hpo.cli.commands import _start_sweep, check_task_code, ship_code
    from hpo.connections.temporal import connect

    settings = stack.settings
    spec = make_spec(args.trials, args.max_concurrent)
    check_task_code(spec)
    client = await connect(settings)
    code = ship_code(settings, spec)
    sweep_id = f"long-{secrets.token_hex(3)}"
    request = SweepRequest(
        sweep_id=sweep_id,
        spec=spec,
        queues=Queues(training=settings.training_queue, sweep=settings.sweep_queue),
        code=code,
        continue_as_new_after=args.continue_as_new_after,
    )
    await wait_for_pollers(client, settings)
    sweep_pid = stack.processes["sweep-worker"].process.pid
    rss_samples: list[tuple[float, int]] = []
    runs = Runs(client, sweep_id)
    cpu_before = {name: tree_cpu_seconds(p.process.pid) for name, p in stack.processes.items()}
    print(
        f"sweep {sweep_id}: {args.trials} trials, random, max_concurrent {args.max_concurrent}, "
        f"training concurrency {args.training_concurrency}, continue-as-new after "
        f"{args.continue_as_new_after or 'the default'} events"
        + (f" (server suggests after {args.server_suggests_after})" if args.server_suggests_after else ""),
        flush=True,
    )
    started = time.monotonic()
    # As `hpo sweep run` starts it: tagged with hpo's search attributes (so are its trials).
    handle = await _start_sweep(client, request, settings)

    async def watch() -> None:
        last_print, last_done = started, 0
        while True:
            await asyncio.sleep(0.5)
            stack.check_alive()
            now = time.monotonic()
            rss = memory_kb(sweep_pid).get("VmRSS", 0)
            rss_samples.append((now - started, rss))
            if now - last_print < args.every:
                continue
            try:
                await runs.refresh()
                status = await handle.query("status", result_type=SweepStatus)
            except Exception as error:  # a run that just continued-as-new; next time
                print(f"  (progress skipped: {error})", flush=True)
                continue
            done = sum(n for state, n in status.counts.items() if state != "running")
            current = runs.ordered[-1] if runs.runs else None
            print(
                f"  t={now - started:6.0f}s done={done:6d} ({(done - last_done) / (now - last_print):5.1f}/s)"
                f" runs={len(runs.runs)} current_history={current.history if current else 0}"
                f" carried_bytes={[r.carried_bytes for r in runs.ordered]}"
                f" sweep_rss_mb={rss / 1024:.0f}",
                flush=True,
            )
            last_print, last_done = now, done

    watcher = asyncio.create_task(watch())
    try:
        status = await handle.result()
    finally:
        watcher.cancel()
    wall = time.monotonic() - started
    cpu = {name: tree_cpu_seconds(p.process.pid) - cpu_before[name] for name, p in stack.processes.items()}
    bench_cpu = sum(os.times()[:2])
    peak_kb = memory_kb(sweep_pid).get("VmHWM", 0)
    latencies = {kind: scrape_latencies(port) for kind, port in stack.metrics_ports.items()}
    await asyncio.sleep(1.0)  # visibility catches up with the last run's close
    await runs.refresh()
    ordered = runs.ordered

    print(f"ended {status.state}: {status.trials_total} trials {dict(status.counts)} in {wall:.0f} s")
    if status.best is not None:
        print(f"best {status.best_trial_id} loss {status.best.objective:.3g}")
    print(
        "run  history  history_kB  carried_bytes  trials_before  seconds  largest parts of the carried state (JSON bytes)"
    )
    for i, run in enumerate(ordered, 1):
        seconds = (run.closed or time.time()) - run.started
        parts = " ".join(f"{k}={v}" for k, v in run.carried_parts.items())
        print(
            f"{i:3d} {run.history:8d} {run.history_bytes / 1024:11.0f} {run.carried_bytes:14d} {run.trials_created_before:14d} {seconds:8.0f}  {parts}"
        )
    if rss_samples:
        tenth = max(1, len(rss_samples) // 10)
        at, top = max(rss_samples, key=lambda sample: sample[1])
        print(
            "sweep worker RSS (MB) by tenth of the run: "
            + " ".join(f"{rss / 1024:.0f}" for _, rss in rss_samples[tenth - 1 :: tenth])
            + f"; sampled max {top / 1024:.0f} at t={at:.0f}s; VmHWM {peak_kb / 1024:.0f}"
        )
    total_cpu = sum(cpu.values()) + bench_cpu
    print(
        f"CPU seconds during the sweep ({os.cpu_count()} cores x {wall:.0f} s = {(os.cpu_count() or 1) * wall:.0f}): "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]))
        + f", bench {bench_cpu:.0f}; {total_cpu / max(status.trials_total, 1) * 1000:.1f} ms per trial"
    )
    for kind, table in latencies.items():
        for (name, labels), (total, count) in sorted(table.items()):
            print(
                f"  {kind} worker {name}{{{labels}}}: n={count:.0f} mean={total / count:.1f} ms"
                f" total={total / 1000:.0f} s"
            )
    profiled = ordered[-2] if len(ordered) > 1 else ordered[-1]  # a whole run, not the tail
    print(f"history of run {ordered.index(profiled) + 1}:")
    for line in await history_profile(client, sweep_id, profiled.run_id):
        print(line)
    if len(ordered) != status.runs:
        print(f"(listed {len(ordered)} runs, the status says {status.runs})")
    trials_per_s = status.trials_total / wall
    if args.peer:
        print(optuna_peer(min(args.trials, 20_000), trials_per_s))
    print(
        f"trials={status.trials_total} runs={status.runs}"
        f" longest_history_events={max(run.history for run in ordered)}"
        f" max_carried_bytes={max(run.carried_bytes for run in ordered)}"
        f" sweep_worker_peak_mb={peak_kb / 1024:.0f} trials_per_s={trials_per_s:.1f}",
        flush=True,
    )


def optuna_peer(trials: int, hpo_trials_per_s: float) -> str:
    """The same objective in a plain in-process Optuna study (random sampler, in memory): no
    durability, no processes, no storage; what orchestration costs beside a bare loop."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    started = time.perf_counter()
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=trials)
    rate = trials / (time.perf_counter() - started)
    return f"optuna_inprocess_trials_per_s={rate:.0f} ({trials} trials; hpo/optuna={hpo_trials_per_s / rate:.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--max-concurrent", type=int, default=32)
    parser.add_argument(
        "--training-concurrency", type=int, default=None, help="trial processes (default: max-concurrent)"
    )
    parser.add_argument("--continue-as-new-after", type=int, default=None, help="events (default: hpo's)")
    parser.add_argument(
        "--server-suggests-after",
        type=int,
        default=None,
        help="history events at which the Temporal dev server suggests continue-as-new (its default "
        "is 4096, which comes before hpo's own 10,000: raise it to let --continue-as-new-after decide)",
    )
    parser.add_argument("--every", type=float, default=15.0, help="seconds between progress lines")
    parser.add_argument("--home", type=Path, default=None, help="keep the stack's state (and logs) here")
    parser.add_argument("--no-metrics", action="store_true", help="workers without /metrics")
    parser.add_argument("--peer", action="store_true", help="also time a plain in-process Optuna study")
    args = parser.parse_args()
    args.training_concurrency = args.training_concurrency or args.max_concurrent
    if args.server_suggests_after:
        import hpo.workers.stack

        hpo.workers.stack.DEV_SERVER_FLAGS = [
            *hpo.workers.stack.DEV_SERVER_FLAGS,
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={args.server_suggests_after}",
        ]
    with tempfile.TemporaryDirectory(prefix="hpo-long-") as scratch:
        home = args.home or Path(scratch)
        stack = BenchStack.for_home(home, Settings(), ephemeral_ports=True)
        stack.training_concurrency = args.training_concurrency
        if not args.no_metrics:
            stack.metrics_ports = {"sweep": free_port(), "training": free_port()}
        started = time.monotonic()
        with stack:
            print(f"stack up in {time.monotonic() - started:.0f} s (logs in {home / 'logs'})", flush=True)
            asyncio.run(sweep(stack, args))
    sys.stdout.flush()
    # The Temporal SDK may abort while the interpreter tears down: leave without it, as hpo does.
    from hpo.proc import exit_without_teardown

    exit_without_teardown(0)


if __name__ == "__main__":
    main()
