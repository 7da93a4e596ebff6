"""Steering a running sweep from the CLI on the real stack (pause, resume, stop, cancel a
trial, extend, change concurrency), following it across a Temporal restart, and what the CLI
says and exits with when a sweep fails.

The trials are a paced function (a sleep per step), so that commands land while they run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sweeps import new_sweep_id, tiny_spec
from temporalio.client import Client, WorkflowHandle

from hpo.cli.follow import live_details
from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepStatus, TrialResult
from hpo.contracts.settings import Settings
from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.storage.checkpoints import step_of
from hpo.storage.s3 import ObjectStore
from hpo.workers.stack import EmbeddedStack

pytestmark = pytest.mark.integration

PACED = Path(__file__).resolve().parents[1] / "fixtures" / "paced"  # paced.py: a sleep per step


@pytest.fixture(scope="module")
def paced_code() -> Path:
    return PACED


def paced_spec(code: Path, *, steps: int = 40, sleep: float = 0.1, **overrides: Any) -> SweepSpec:
    spec: dict[str, Any] = {
        "name": "steer",
        "task": {"entrypoint": "paced:train", "code": str(code), "config": {"sleep": sleep}},
        "space": {"rate": {"type": "float", "low": 0.05, "high": 1.0}},
        "algorithm": "random",
        "trials": 3,
        "max_concurrent": 2,
        "objective": {"metric": "loss", "mode": "min"},
        "seed": 0,
        "training": {"max_steps": steps, "checkpoint_every": 5, "heartbeat_timeout_s": 30},
    }
    return parse_spec({**spec, **overrides})


def hpo(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr, with Rich's line wrapping undone."""
    return " ".join((result.stdout + " " + result.stderr).split())


class Background:
    """An `hpo` command running beside the test (sweep run, watch), its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hpo.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"still running after {timeout}s:\n{self.output[-3000:]}")
            await asyncio.sleep(0.5)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def write_spec(tmp_path: Path, spec: SweepSpec) -> Path:
    path = tmp_path / f"{spec.name}-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    return path


async def status_of(handle: WorkflowHandle[Any, SweepStatus]) -> SweepStatus | None:
    try:
        return await handle.query("status", result_type=SweepStatus)
    except Exception:  # not started yet, or between two runs
        return None


async def until(
    handle: WorkflowHandle[Any, SweepStatus],
    condition: Callable[[SweepStatus], bool],
    timeout: float = 120.0,
    what: str = "",
) -> SweepStatus:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status = await status_of(handle)
        if status is not None:
            last = status
            if condition(status):
                return status
        await asyncio.sleep(0.3)
    summary = None if last is None else (last.state, [(t.trial_id, t.status) for t in last.trials])
    raise AssertionError(f"not within {timeout}s: {what}; last seen {summary}")


async def training(
    client: Client, sweep_id: str, trial: TrialResult, min_step: int, timeout: float = 60
) -> int:
    """Wait until `trial`'s segment is training, at `min_step` or later (its heartbeat says so):
    a trial the sweep counts as running may still wait for a worker slot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = await live_details(client, sweep_id, trial)
        if live and (live.step or 0) >= min_step:
            return live.step or 0
        await asyncio.sleep(0.3)
    raise AssertionError(f"{trial.trial_id} did not reach step {min_step} within {timeout}s")


def running(status: SweepStatus) -> list[str]:
    return [t.trial_id for t in status.trials if t.status == "running"]


def by_id(status: SweepStatus) -> dict[str, Any]:
    return {t.trial_id: t for t in status.trials}


async def start(
    stack: Any, tmp_path: Path, spec: SweepSpec, prefix: str
) -> tuple[str, WorkflowHandle[Any, SweepStatus]]:
    """`hpo sweep run --no-wait`, as a user would; then a handle to poll it."""
    sweep_id = new_sweep_id(prefix)
    started = hpo(
        "sweep", "run", str(write_spec(tmp_path, spec)), "--id", sweep_id, "--no-wait", env=stack.env
    )
    assert started.returncode == 0, said(started)
    client = await connect(stack.settings)
    return sweep_id, client.get_workflow_handle(sweep_id, result_type=SweepStatus)


async def test_pause_starts_nothing_new_until_resume(stack, training_worker, paced_code, tmp_path):
    spec = paced_spec(paced_code, trials=3, max_concurrent=1, steps=60)
    sweep_id, handle = await start(stack, tmp_path, spec, "pause")
    status = await until(handle, lambda s: running(s) == ["t0000"], what="t0000 running")
    await training(await connect(stack.settings), sweep_id, status.trials[0], min_step=1)

    paused = hpo("sweep", "pause", sweep_id, env=stack.env)
    assert paused.returncode == 0, said(paused)
    print(said(paused))
    assert "paused" in paused.stdout, "the sweep's answer is printed"
    again = hpo("sweep", "pause", sweep_id, env=stack.env)
    assert again.returncode == 2 and "already paused" in said(again), said(again)
    status = await until(handle, lambda s: s.state == "paused", 10, "state paused")
    # A pause starts nothing new and lets t0000 go on (on a slow machine it may have finished by now).
    assert [t.trial_id for t in status.trials] == ["t0000"], status.trials
    assert by_id(status)["t0000"].status in ("running", "completed")

    # t0000 finishes; nothing new starts while paused.
    status = await until(handle, lambda s: not running(s), 60, "t0000 finished")
    assert by_id(status)["t0000"].status == "completed"
    await asyncio.sleep(6)
    status = await until(handle, lambda s: True)
    assert status.state == "paused" and [t.trial_id for t in status.trials] == ["t0000"], status.trials
    shown = hpo("sweep", "status", sweep_id, env=stack.env)
    assert shown.returncode == 0 and "paused" in said(shown), said(shown)

    resumed = hpo("sweep", "resume", sweep_id, env=stack.env)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout, said(resumed)
    print(said(resumed))
    await until(handle, lambda s: s.state == "running" and "t0001" in running(s), 30, "t0001 after resume")
    final = await handle.result()
    assert final.state == "completed"
    assert [t.status for t in final.trials] == ["completed"] * 3


async def test_stop_ends_the_sweep_with_checkpoints_and_exit_0(stack, training_worker, paced_code, tmp_path):
    spec = paced_spec(paced_code, trials=4, max_concurrent=2, steps=400, sleep=0.05)
    sweep_id = new_sweep_id("stop")
    run = Background(
        ["sweep", "run", str(write_spec(tmp_path, spec)), "--id", sweep_id], stack.env, tmp_path / "run.log"
    )
    try:
        client = await connect(stack.settings)
        handle = client.get_workflow_handle(sweep_id, result_type=SweepStatus)
        status = await until(handle, lambda s: len(running(s)) == 2, what="two trials running")
        for trial in status.trials:  # training, past their first checkpoints
            await training(client, sweep_id, trial, min_step=7)

        stopped = hpo("sweep", "stop", sweep_id, "--reason", "enough for today", env=stack.env)
        assert stopped.returncode == 0, said(stopped)
        again = hpo("sweep", "stop", sweep_id, env=stack.env)
        assert again.returncode == 2, said(again)  # already stopping, or already ended
        assert "is stopping (stopped by the user" in said(again) or "has already ended" in said(again), said(
            again
        )

        assert await run.wait(120) == 0, run.output
    finally:
        run.kill()
    final = await handle.result()
    assert final.state == "stopped"
    assert "user" in (final.stop_reason or "") and "enough for today" in (final.stop_reason or "")
    assert f"sweep {sweep_id} stopped: {final.stop_reason}" in " ".join(run.output.split())
    interrupted = [t for t in final.trials if t.trial_id in ("t0000", "t0001")]
    assert len(final.trials) == 2, [(t.trial_id, t.status) for t in final.trials]  # nothing new started
    store = ObjectStore(stack.settings)
    for trial in interrupted:
        assert trial.status != "running" and trial.train is not None, trial
        # Each running segment saved its step before it ended: a checkpoint at its last step.
        assert 0 < trial.train.step < 400 and trial.train.checkpoint_key is not None, trial
        assert step_of(trial.train.checkpoint_key) == trial.train.step
        assert store.exists(trial.train.checkpoint_key)
    shown = hpo("sweep", "status", sweep_id, env=stack.env)
    assert shown.returncode == 0 and "enough for today" in said(shown), said(shown)
    late = hpo("sweep", "pause", sweep_id, env=stack.env)
    assert late.returncode == 2 and "has already ended (stopped)" in said(late), said(late)


async def test_cancel_one_trial_the_others_go_on(stack, training_worker, paced_code, tmp_path):
    spec = paced_spec(paced_code, trials=3, max_concurrent=2, steps=150)
    sweep_id, handle = await start(stack, tmp_path, spec, "cancel")
    status = await until(handle, lambda s: "t0000" in running(s), what="t0000 running")
    await training(await connect(stack.settings), sweep_id, by_id(status)["t0000"], min_step=6)

    cancelled = hpo("sweep", "cancel-trial", sweep_id, "t0000", env=stack.env)
    assert cancelled.returncode == 0 and "t0000" in cancelled.stdout, said(cancelled)
    print(said(cancelled))
    unknown = hpo("sweep", "cancel-trial", sweep_id, "t0099", env=stack.env)
    assert unknown.returncode == 2 and "no trial 't0099'" in said(unknown), said(unknown)

    final = await handle.result()
    assert final.state == "completed"
    statuses = {t.trial_id: t.status for t in final.trials}
    assert statuses == {"t0000": "cancelled", "t0001": "completed", "t0002": "completed"}, statuses
    stopped_at = by_id(final)["t0000"].train
    assert stopped_at is not None and 6 <= stopped_at.step < 150, stopped_at  # ended mid-way


async def test_extend_runs_more_trials_than_planned(stack, training_worker, paced_code, tmp_path):
    spec = paced_spec(paced_code, trials=2, max_concurrent=1, steps=60)
    sweep_id, handle = await start(stack, tmp_path, spec, "extend")
    await until(handle, lambda s: "t0000" in running(s), what="t0000 running")

    extended = hpo("sweep", "extend", sweep_id, "--trials", "4", env=stack.env)
    assert extended.returncode == 0, said(extended)
    print(said(extended))
    shrink = hpo("sweep", "extend", sweep_id, "--trials", "3", env=stack.env)
    assert shrink.returncode == 2 and "trials can only grow" in said(shrink), said(shrink)
    assert "4 → 3" in said(shrink) and "ValueError" not in said(shrink), said(shrink)
    print(said(shrink))
    await until(handle, lambda s: s.trials_planned == 4, 10, "4 trials planned")

    final = await handle.result()
    assert final.state == "completed" and final.trials_planned == 4
    assert [t.status for t in final.trials] == ["completed"] * 4


async def test_max_concurrent_goes_down_then_up(stack, training_worker, paced_code, tmp_path):
    spec = paced_spec(paced_code, trials=10, max_concurrent=3, steps=40)
    sweep_id, handle = await start(stack, tmp_path, spec, "concurrency")
    await until(handle, lambda s: len(running(s)) == 3, what="three running")

    lowered = hpo("sweep", "extend", sweep_id, "--max-concurrent", "1", env=stack.env)
    assert lowered.returncode == 0, said(lowered)
    # Running trials finish; from the moment at most one runs, never more than one.
    status = await until(handle, lambda s: len(running(s)) <= 1 and s.max_concurrent == 1, 90, "down to one")
    seen = []
    for _ in range(20):
        status = await until(handle, lambda s: True)
        seen.append(len(running(status)))
        await asyncio.sleep(0.5)
    assert max(seen) <= 1 and status.max_concurrent == 1, seen
    assert len(status.trials) < 10, "the sweep must still be running for the next part"

    raised = hpo("sweep", "extend", sweep_id, "--max-concurrent", "3", env=stack.env)
    assert raised.returncode == 0, said(raised)
    await until(handle, lambda s: len(running(s)) >= 2, 30, "more than one running after raising")
    final = await handle.result()
    assert final.state == "completed" and len(final.trials) == 10


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[EmbeddedStack]:
    """A stack of its own: this test restarts its Temporal server."""
    embedded = EmbeddedStack.for_home(tmp_path / "stack", Settings(), ephemeral_ports=True)
    try:
        embedded.start_servers()
        embedded.start_worker("sweep")
        embedded.start_worker("training")
        yield embedded
    finally:
        embedded.stop()


def restart_temporal(stack: EmbeddedStack, down_s: float) -> None:
    """Stop the Temporal dev server, wait, start it again on its own database file and port."""
    old = stack.processes.pop("temporal")
    command = [str(part) for part in old.process.args]  # type: ignore[union-attr]
    old.stop()
    time.sleep(down_s)
    managed = stack._spawn("temporal", command)
    host, port = stack.settings.temporal_address.rsplit(":", 1)
    stack._wait_port(managed, host, int(port))


async def test_watch_rides_out_a_temporal_restart(own_stack, paced_code, tmp_path):
    stack = own_stack
    spec = paced_spec(paced_code, trials=3, max_concurrent=2, steps=150)
    sweep_id, handle = await start(stack, tmp_path, spec, "restart")
    client = await connect(stack.settings)
    watch = Background(["sweep", "watch", sweep_id], stack.env, tmp_path / "watch.log")
    try:
        status = await until(handle, lambda s: len(running(s)) == 2, what="two running")
        for trial in status.trials:  # both workers up and training (one starting would die)
            await training(client, sweep_id, trial, min_step=3, timeout=120)
        deadline = time.monotonic() + 60
        while "t0001 started" not in watch.output and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert "t0001 started" in watch.output, watch.output  # following before the restart
        # Down longer than the SDK's own retries (about 10 s), so the watcher sees it go.
        await asyncio.to_thread(restart_temporal, stack, 15)
        assert await watch.wait(300) == 0, watch.output
    finally:
        watch.kill()
    out = watch.output
    print(out)
    assert out.count("lost Temporal at") == 1, out
    assert (
        f"lost Temporal at {stack.settings.temporal_address}; reconnecting (the sweep goes on in the workers)"
        in out
    )
    assert "reconnected" in out.split("lost Temporal at", 1)[1], out
    assert f"sweep {sweep_id} (completed)" in out, out  # its leaderboard
    assert "Traceback" not in out, out
    final = await handle.result()
    assert final.state == "completed" and all(t.status == "completed" for t in final.trials)


async def test_a_failed_sweep_exits_1_in_run_status_and_watch(
    stack, training_worker, tiny_model, tiny_csv, tmp_path
):
    spec = tiny_spec(tiny_model, tiny_csv, dataset={"label_field": "sentiment"})
    sweep_id = new_sweep_id("fails")
    run = hpo("sweep", "run", str(write_spec(tmp_path, spec)), "--id", sweep_id, env=stack.env)
    assert run.returncode == 1, said(run)
    assert f"sweep {sweep_id} failed:" in said(run) and "no column 'sentiment'" in said(run), said(run)
    assert "Traceback" not in said(run), run.stdout + run.stderr

    status = hpo("sweep", "status", sweep_id, env=stack.env)
    assert status.returncode == 1, said(status)
    assert f"sweep {sweep_id} (failed)" in said(status) and "no column 'sentiment'" in said(status), said(
        status
    )
    watch = hpo("sweep", "watch", sweep_id, env=stack.env)
    assert watch.returncode == 1 and f"sweep {sweep_id} failed:" in said(watch), said(watch)
    late = hpo("sweep", "resume", sweep_id, env=stack.env)
    assert late.returncode == 2 and "has already ended (failed)" in said(late), said(late)


async def test_terminated_sweep_unknown_ids_and_the_list(stack, training_worker, paced_code, tmp_path):
    spec = paced_spec(paced_code, trials=2, max_concurrent=1, steps=400)
    sweep_id, handle = await start(stack, tmp_path, spec, "terminated")
    await until(handle, lambda s: bool(running(s)), what="a trial running")
    listed = hpo("sweep", "list", env=stack.env)
    assert listed.returncode == 0 and sweep_id in listed.stdout, said(listed)
    line = next(line for line in listed.stdout.splitlines() if sweep_id in line)
    assert "running" in line and "steer" in line, line

    await handle.terminate(reason="operator pulled the plug")
    status = hpo("sweep", "status", sweep_id, env=stack.env)
    assert status.returncode == 1, said(status)
    assert f"sweep {sweep_id} was terminated: operator pulled the plug" in said(status), said(status)
    watch = hpo("sweep", "watch", sweep_id, env=stack.env)
    assert watch.returncode == 1 and "was terminated: operator pulled the plug" in said(watch), said(watch)

    running_only = hpo("sweep", "list", env=stack.env)
    assert sweep_id not in running_only.stdout, said(running_only)
    everything = hpo("sweep", "list", "--all", "--limit", "100", env=stack.env)
    assert everything.returncode == 0, said(everything)
    line = next(line for line in everything.stdout.splitlines() if sweep_id in line)
    assert "terminated" in line, line

    for command in (["pause"], ["stop"], ["cancel-trial"], ["extend", "--trials", "9"]):
        args = [command[0], "no-such-sweep", *(["t0000"] if command == ["cancel-trial"] else command[1:])]
        result = hpo("sweep", *args, env=stack.env)
        assert result.returncode == 2 and "no sweep 'no-such-sweep'" in said(result), said(result)
    for command in ("status", "watch"):
        result = hpo("sweep", command, "no-such-sweep", env=stack.env)
        assert result.returncode == 2 and "no sweep 'no-such-sweep'" in said(result), said(result)
