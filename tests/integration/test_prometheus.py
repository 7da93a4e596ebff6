"""A real Prometheus scrapes the workers while sweeps run; what it stored matches the sweeps.

The workers run as in a cluster (`hpo worker training|sweep` with HPO_METRICS_PORT) on
their own task queues, so the stack's metric-less sweep worker never takes these sweeps.
Prometheus (Debian's package: scripts/install_prometheus.sh) scrapes them every second.
The trial is a paced function (a quarter-second per step) so that segments are scraped
while they run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sweeps import new_sweep_id
from temporalio.client import WorkflowHandle

from dashboard_queries import all_metric_names, load
from hpo.cli.commands import ship_code
from hpo.connections.temporal import connect
from hpo.contracts.messages import Queues, SweepRequest, SweepStatus
from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.telemetry import sweep_metrics
from hpo.workers.stack import free_port

pytestmark = pytest.mark.integration

PACED = Path(__file__).resolve().parents[1] / "fixtures" / "paced"  # paced.py: a sleep per step
CHECKPOINT_EVERY = 4
CONCURRENCY = 2


def _prometheus() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )
    if found:
        return found
    reason = "prometheus not found: run `bash scripts/install_prometheus.sh` (scripts/test.sh does)"
    if os.environ.get("CI"):
        pytest.fail(reason)  # CI installs it and must run this test, never skip it
    pytest.skip(reason)


@dataclass
class Observed:
    """Metric-serving workers on their own queues and the Prometheus that scrapes them."""

    stack: Any
    home: Path
    code: Path
    queues: Queues
    ports: dict[str, int]
    url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str, concurrency: int = CONCURRENCY) -> None:
        """`name` is the worker's Prometheus target (its `worker` label): training, sweep or training-2."""
        kind = "sweep" if name == "sweep" else "training"
        env = {
            **self.stack.env,
            "HPO_METRICS_PORT": str(self.ports[name]),
            "HPO_TRAINING_QUEUE": self.queues.training,
            "HPO_SWEEP_QUEUE": self.queues.sweep,
        }
        command = [sys.executable, "-m", "hpo.cli", "worker", kind]
        if kind == "training":
            command += ["--concurrency", str(concurrency)]
        log = (self.home / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop_workers(self, *names: str) -> list[int]:
        """SIGTERM, all at once (each drains its own work), then their exit codes."""
        processes = [self.processes.pop(name) for name in names]
        for process in processes:
            process.terminate()
        return [process.wait(90) for process in processes]

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        """The single value of `expr` now (None when it has no series)."""
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else None

    def by_label(self, expr: str, label: str) -> dict[str, float]:
        return {r["metric"][label]: float(r["value"][1]) for r in self.query(expr)}

    async def settled(
        self, expr: str, done: Callable[[float | None], bool], timeout: float = 30.0
    ) -> float | None:
        """`expr` once `done` accepts it: Prometheus learns the workers' final values at its
        next scrape, a second or so after the fact."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expr)
            if done(value) or time.monotonic() > deadline:
                return value
            await asyncio.sleep(0.5)

    async def start_sweep(self, spec: SweepSpec) -> WorkflowHandle[Any, SweepStatus]:
        client = await connect(self.stack.settings)
        sweep_id = new_sweep_id("prom")
        request = SweepRequest(
            sweep_id=sweep_id, spec=spec, queues=self.queues, code=ship_code(self.stack.settings, spec)
        )
        return await client.start_workflow(
            "SweepWorkflow", request, id=sweep_id, task_queue=self.queues.sweep, result_type=SweepStatus
        )

    def spec(self, **overrides: Any) -> SweepSpec:
        spec: dict[str, Any] = {
            "name": "paced",
            "task": {"entrypoint": "paced:train", "code": str(self.code)},
            "space": {"rate": {"type": "float", "low": 0.05, "high": 1.0}},
            "algorithm": {"name": "asha", "eta": 2, "min_fidelity": 8},
            "trials": 4,
            "max_concurrent": CONCURRENCY,
            "objective": {"metric": "loss", "mode": "min"},
            "seed": 0,
            "training": {"max_steps": 32, "checkpoint_every": CHECKPOINT_EVERY, "heartbeat_timeout_s": 10},
        }
        return parse_spec({**spec, **overrides})


def _write_config(path: Path, ports: dict[str, int]) -> None:
    targets = [{"targets": [f"127.0.0.1:{port}"], "labels": {"worker": name}} for name, port in ports.items()]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "hpo", "static_configs": targets}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML


def _targets_up(env: Observed) -> set[str]:
    try:
        return {name for name, up in env.by_label("up", "worker").items() if up == 1}
    except OSError:
        return set()  # Prometheus is still starting


@pytest.fixture(scope="module")
def observed(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    binary = _prometheus()
    home = tmp_path_factory.mktemp("prometheus")
    code = PACED
    suffix = uuid.uuid4().hex[:8]
    # training-2 replaces training in the preemption test; Prometheus knows its port from the start.
    ports = {name: free_port() for name in ("training", "sweep", "training-2")}
    env = Observed(
        stack, home, code, Queues(training=f"prom-training-{suffix}", sweep=f"prom-sweeps-{suffix}"), ports
    )
    _write_config(home / "prometheus.yml", ports)
    web = free_port()
    env.url = f"http://127.0.0.1:{web}"
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
            "--log.level=warn",
        ],
        stdout=(home / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        env.start_worker("training")
        env.start_worker("sweep")
        deadline = time.monotonic() + 90
        while not {"training", "sweep"} <= _targets_up(env):
            assert prometheus.poll() is None, (home / "prometheus.log").read_text()[-2000:]
            for name, process in env.processes.items():
                log = (home / f"{name}.log").read_text()[-2000:]
                assert process.poll() is None, f"{name} worker exited:\n{log}"
            assert time.monotonic() < deadline, f"Prometheus never saw both workers up: {_targets_up(env)}"
            time.sleep(0.5)
        yield env
    finally:
        prometheus.terminate()
        env.stop_workers(*env.processes)
        prometheus.wait(30)


async def test_what_prometheus_scraped_matches_the_sweep(observed: Observed) -> None:
    o = observed
    worker_totals = {
        "completed": 'sum(hpo_segments_total{outcome="completed"})',
        "not completed": 'sum(hpo_segments_total{outcome!="completed"})',
        "promotions": 'sum(hpo_resumes_total{cause="promotion"})',
        "other resumes": 'sum(hpo_resumes_total{cause!="promotion"})',
        "checkpoints": "sum(hpo_checkpoint_save_seconds_count)",
        "checkpoint bytes": "sum(hpo_checkpoint_bytes_total)",
    }
    before = {name: o.value(expr) or 0.0 for name, expr in worker_totals.items()}
    started = time.monotonic()
    status = await (await o.start_sweep(o.spec())).result()
    window = f"{int(time.monotonic() - started) + 15}s"
    sweep = f'sweep="{status.sweep_id}"'
    segments = [segment for trial in status.trials for segment in trial.segments]
    assert segments and all(segment.status == "completed" for segment in segments)
    promotions = [segment for segment in segments if segment.rung > 0]
    assert promotions, "ASHA promoted nobody: the sweep is too small to test resumes"
    checkpoints = sum(
        ((segment.step or 0) - (trial.segments[i - 1].step or 0 if i else 0)) // CHECKPOINT_EVERY
        for trial in status.trials
        for i, segment in enumerate(trial.segments)
    )

    def delta(name: str) -> float:
        return (o.value(worker_totals[name]) or 0.0) - before[name]

    # The last segment's end reaches Prometheus at its next scrape.
    await o.settled(worker_totals["completed"], lambda v: (v or 0.0) - before["completed"] >= len(segments))
    assert delta("completed") == len(segments)
    assert delta("not completed") == 0
    assert delta("promotions") == len(promotions)  # every promotion resumed from its checkpoint
    assert delta("other resumes") == 0
    assert delta("checkpoints") == checkpoints
    assert delta("checkpoint bytes") > 0
    assert o.value(f"sum(hpo_training_steps_total{{{sweep}}})") == sum(
        t.segments[-1].step or 0 for t in status.trials
    )
    train_seconds = sum(segment.train_seconds for segment in segments)
    assert train_seconds == pytest.approx(status.train_seconds)
    assert o.value(f"sum(hpo_accelerator_seconds_total{{{sweep}}})") == pytest.approx(
        train_seconds, rel=0.02, abs=0.2
    )

    # Gauges of running segments: seen while they ran, gone now.
    assert 1 <= (o.value(f"max_over_time(sum(hpo_running_segments)[{window}:500ms])") or 0) <= CONCURRENCY
    assert await o.settled("sum(hpo_running_segments)", lambda v: v == 0) == 0
    age = f"hpo_newest_checkpoint_age_seconds{{{sweep}}}"
    seen = o.by_label(f"count_over_time({age}[{window}])", "trial")
    assert set(seen) == {trial.trial_id for trial in status.trials}
    # Checkpoints every second of training keep it small; before the first one it counts from the start.
    assert 0 < (o.value(f"max(max_over_time({age}[{window}]))") or 0) < 10
    assert await o.settled(f"count({age})", lambda v: v is None) is None

    # The sweep workflow's own gauges (through the sweep worker's SDK exporter).
    states = dict.fromkeys(sweep_metrics.STATES, 0)  # every state is exported, zeros included
    for trial in status.trials:
        states[trial.status] += 1
    await o.settled(f'sum(hpo_trials{{{sweep},state="running"}})', lambda v: v == 0)
    assert o.by_label(f"sum by (state) (hpo_trials{{{sweep}}})", "state") == states
    assert status.best is not None
    assert o.value(f"max(hpo_best_objective{{{sweep}}})") == pytest.approx(status.best.objective)
    assert o.value(f"max(hpo_sweep_accelerator_seconds{{{sweep}}})") == pytest.approx(status.train_seconds)

    print(
        f"Prometheus vs sweep {status.sweep_id}: segments {delta('completed'):.0f}/{len(segments)}, "
        f"promotions {delta('promotions'):.0f}/{len(promotions)}, checkpoints {delta('checkpoints'):.0f}/{checkpoints}, "
        f"accelerator-s {o.value(f'sum(hpo_accelerator_seconds_total{{{sweep}}})'):.2f}/{train_seconds:.2f}, "
        f"trials by state {states}"
    )
    # Every metric the Grafana dashboard reads has data.
    for name in sorted(all_metric_names(load())):
        assert o.value(f'count(last_over_time({{__name__="{name}"}}[{window}]))'), f"no {name} in Prometheus"


async def test_a_preempted_segment_resumes_as_a_preemption(observed: Observed) -> None:
    """SIGTERM stops the training worker mid-segment (it checkpoints and hands the activity
    back); the retried attempt, on a new worker, counts its resume as a preemption."""
    o = observed
    # 4 s of training: stopped after its first checkpoint (1 s), most of it is left to resume.
    training = {"max_steps": 16, "checkpoint_every": CHECKPOINT_EVERY, "heartbeat_timeout_s": 10}
    spec = o.spec(algorithm="random", trials=1, max_concurrent=1, training=training)
    saved = "sum(hpo_checkpoint_save_seconds_count)"
    before = o.value(saved) or 0.0
    handle = await o.start_sweep(spec)
    assert (await o.settled(saved, lambda v: (v or 0.0) > before, timeout=60) or 0.0) > before
    # Exit 0: it drained its segment (checkpoint, WorkerShutdown) before leaving.
    assert await asyncio.to_thread(o.stop_workers, "training") == [0]
    o.start_worker("training-2", concurrency=1)  # one trial process: starts faster
    status = await handle.result()
    (trial,) = status.trials
    assert trial.status == "completed" and trial.train is not None and trial.train.resumed_from_step > 0
    # training-2 is the only live target with resume counters: this attempt's.
    resumes = 'sum(hpo_resumes_total{worker="training-2"}) by (cause)'
    await o.settled('sum(hpo_segments_total{worker="training-2"})', lambda v: v == 1, timeout=60)
    assert o.by_label(resumes, "cause") == {"preemption": 1}
