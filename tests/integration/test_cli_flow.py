"""The README's flows as a user runs them: `hpo demo`, and `hpo up` + `hpo sweep run` in two
terminals, give the same sweep result; Ctrl-C stops the stack; a second `hpo up` reuses its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sweeps import tiny_spec

from hpo.workers.stack import free_port

pytestmark = pytest.mark.integration


def _spec_file(tmp_path: Path, model: Path, data: Path) -> Path:
    spec = tiny_spec(model, data, name="cli-flow", trials=2, training={"max_steps": 30})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    return path


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "HPO_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "HPO_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }


def _hpo(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _start_up(home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "up", "--home", str(home), "--ui-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    for line in process.stdout:
        if "hpo stack up" in line:
            return process
        assert time.monotonic() < deadline, "hpo up did not come up"
    raise AssertionError(f"hpo up exited with {process.wait()}")


def _stop_up(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    return out


def _child_pid(parent: int, command_part: str) -> int:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and command_part in cmdline:
            return int(entry.name)
    raise AssertionError(f"no child of {parent} runs {command_part!r}")


def _metrics(path: Path) -> list[tuple]:
    status = json.loads(path.read_text())
    return [
        (t["trial_id"], t["params"], t["status"], t["validation"], t["test"], t["train"]["metrics"])
        for t in status["trials"]
    ]


def test_demo_and_up_plus_sweep_run_agree_and_up_restarts_on_its_state(tmp_path, tiny_model, tiny_csv):
    spec = _spec_file(tmp_path, tiny_model, tiny_csv)
    demo_json, run_json = tmp_path / "demo.json", tmp_path / "run.json"

    demo = _hpo(
        "demo", str(spec), "--home", str(tmp_path / "demo-home"), "--output", str(demo_json), env=_env()
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "val accuracy" in demo.stdout and "test accuracy" in demo.stdout

    env, home = _env(), tmp_path / "up-home"
    # A client in another terminal finds the stack's S3 keys in its home.
    env["HPO_HOME"] = str(home)
    up = _start_up(home, env)
    try:
        run = _hpo("sweep", "run", str(spec), "--id", "flow-1", "--output", str(run_json), env=env)
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        out = _stop_up(up)
    assert "stopped" in out
    assert _metrics(run_json) == _metrics(demo_json)
    assert all(row[2] == "completed" for row in _metrics(run_json))

    # Scratch that a SIGKILLed trial process left behind is cleared when the stack starts.
    leftover = home / "cache" / "tmpkilled" / "weights.safetensors"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 1000)
    # Ctrl-C left no server behind, so the same ports come up again on the same state.
    up = _start_up(home, env)
    assert not leftover.exists()
    try:
        # A training worker that dies is replaced; the next request is served by the new one.
        os.kill(_child_pid(up.pid, "worker training"), signal.SIGKILL)
        status = _hpo("sweep", "status", "flow-1", env=env)
        assert status.returncode == 0, status.stderr
        assert "flow-1 (completed)" in status.stdout
        predict = _hpo("predict", "flow-1", "a lovely wonderful film", env=env)
        assert predict.returncode == 0, predict.stderr
        assert "positive" in predict.stdout or "negative" in predict.stdout
    finally:
        out = _stop_up(up)
    assert "training-worker exited; started a new one" in out


def test_unreachable_s3_starts_nothing(tmp_path, stack, tiny_model, tiny_csv):
    spec = _spec_file(tmp_path, tiny_model, tiny_csv)
    env = {**os.environ, "HPO_TEMPORAL_ADDRESS": stack.settings.temporal_address,
           "HPO_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"}  # fmt: skip
    result = _hpo("sweep", "run", str(spec), "--id", "never-started", env=env)
    assert result.returncode == 2
    assert "S3 endpoint" in result.stderr and "unreachable" in result.stderr
    described = subprocess.run(
        [str(Path(sys.executable).parent / "temporal"), "workflow", "describe", "--workflow-id", "never-started",
         "--address", stack.settings.temporal_address],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert described.returncode != 0 and "not found" in (described.stderr + described.stdout).lower()


def test_missing_s3_dataset_starts_nothing(tmp_path, stack, tiny_model, tiny_csv):
    spec = tiny_spec(
        tiny_model, tiny_csv, dataset={"source": f"s3://{stack.settings.s3_bucket}/absent/data.csv"}
    )
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    env = {**os.environ, "HPO_TEMPORAL_ADDRESS": stack.settings.temporal_address,
           "HPO_S3_ENDPOINT": stack.settings.s3_endpoint, "HPO_HOME": str(stack.home)}  # fmt: skip
    result = _hpo("sweep", "run", str(path), "--id", "no-dataset", env=env)
    assert result.returncode == 2
    assert "dataset.source: s3://" in result.stderr and "does not exist" in result.stderr
