"""Following a sweep: `hpo sweep watch` narrates a sweep started elsewhere, and the live view
reads each running segment's step and metrics from its heartbeat."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
import yaml
from sweeps import byo_spec, new_sweep_id, run_sweep

from hpo.cli.follow import live_details
from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepStatus

pytestmark = pytest.mark.integration


def _hpo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


async def test_watch_narrates_a_ladder_started_without_waiting(stack, training_worker, tmp_path):
    spec = byo_spec(
        trials=4, algorithm={"name": "asha", "eta": 2, "min_fidelity": 20}, training={"max_steps": 80}
    )
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    sweep_id = new_sweep_id("watch")
    started = _hpo("sweep", "run", str(path), "--id", sweep_id, "--no-wait", env=stack.env)
    assert started.returncode == 0, started.stderr
    assert f"hpo sweep watch {sweep_id}" in started.stdout

    watched = _hpo("sweep", "watch", sweep_id, env=stack.env)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    out = watched.stdout
    assert "t0000 started: rung 0, to 20 steps" in out
    assert "promoted to rung 1: 20 -> 40 steps" in out
    assert "stopped at rung 0 (not promoted): val error_rate" in out
    assert f"sweep {sweep_id} (completed), objective: validation error_rate (min)" in out


async def test_live_details_come_from_the_running_segments_heartbeat(stack, training_worker):
    spec = byo_spec(
        trials=1, algorithm="random", training={"max_steps": 400, "checkpoint_every": 100},
        space={"hidden": {"type": "categorical", "choices": [1024]}, "batch_size": {"type": "categorical", "choices": [128]}},
    )  # fmt: skip
    sweep_id = new_sweep_id("live")
    sweep = asyncio.ensure_future(run_sweep(stack, spec, sweep_id))
    client = await connect(stack.settings)
    handle = client.get_workflow_handle(sweep_id, result_type=SweepStatus)
    seen: dict | None = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not sweep.done():
        try:
            status = await handle.query("status", result_type=SweepStatus)
        except Exception:  # not started yet
            await asyncio.sleep(0.5)
            continue
        running = [t for t in status.trials if t.status == "running"]
        if running:
            seen = await live_details(client, sweep_id, running[0])
            if seen and (seen.step or 0) > 0:
                break
        await asyncio.sleep(0.5)
    # Seen what it came for: end the sweep rather than wait for its training.
    await handle.terminate("test done")
    sweep.cancel()
    assert seen is not None and seen.step is not None and 0 < seen.step <= 400
    assert "loss" in seen.metrics and seen.seconds > 0
