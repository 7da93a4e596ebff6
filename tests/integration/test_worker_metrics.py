"""A worker with HPO_METRICS_PORT serves Prometheus metrics (what the chart's probes and
ServiceMonitor scrape)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from hpo.workers.stack import free_port

pytestmark = pytest.mark.integration


def test_sweep_worker_serves_prometheus_metrics(stack, tmp_path):
    port = free_port()
    env = {**stack.env, "HPO_METRICS_PORT": str(port)}
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "worker", "sweep"], env=env,
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    try:
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and "temporal_" not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.5)
        assert "temporal_" in body, "no Temporal worker metrics on /metrics"
    finally:
        worker.terminate()
        # Once serving, SIGTERM is a clean stop: exit 0, not death by a signal (SIGABRT in teardown).
        assert worker.wait(60) == 0, log.read_text()[-2000:]
