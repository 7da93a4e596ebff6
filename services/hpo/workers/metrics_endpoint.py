"""One /metrics endpoint per worker on HPO_METRICS_PORT: the Temporal SDK's metrics and hpo's.

The SDK's exporter is a Rust HTTP server with its own registry, so it is bound to a free
port on 127.0.0.1 and relayed: at each scrape the worker fetches its text and re-yields it
through prometheus_client, which serves hpo's metrics beside it (one port for probes, the
Service and the ServiceMonitor). The SDK is told to end counter names in `_total` because
prometheus_client would append it anyway; the names Prometheus stores are the SDK's.

The training worker's trial processes write hpo's metrics into a multiprocess directory
(prepare_multiprocess_dir) that the endpoint merges; live-process gauges of trial processes
that have exited are dropped (mark_process_dead) at each scrape, so a trial process killed
mid-segment does not count as running forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from hpo.telemetry import metrics
from hpo.workers.stack import free_port

log = logging.getLogger("hpo.metrics")
SDK_SCRAPE_TIMEOUT_S = 5.0
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


class SdkMetrics(Collector):
    """The Temporal SDK exporter's families, fetched at scrape time and re-yielded."""

    def __init__(self, address: str) -> None:
        self.url = f"http://{address}/metrics"

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(metrics.SDK_UP, metrics.SDK_UP_HELP)
        families: list[Metric] = []
        try:
            with urllib.request.urlopen(self.url, timeout=SDK_SCRAPE_TIMEOUT_S) as response:
                families = list(text_string_to_metric_families(response.read().decode()))
            up.add_metric([], 1)
        except (OSError, ValueError) as error:
            # hpo's own metrics are still worth serving; the gauge says what is missing.
            log.warning("Temporal SDK metrics unavailable at %s: %s", self.url, error)
            up.add_metric([], 0)
        yield from families
        yield up


class RunningSegments(Collector):
    """hpo_newest_checkpoint_age_seconds, computed now from what each running segment wrote."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            metrics.CHECKPOINT_AGE, metrics.CHECKPOINT_AGE_HELP, labels=["sweep", "trial"]
        )
        now = time.time()
        for pid, entry in sorted(metrics.running_segments(self.directory).items()):
            if not _alive(pid):
                # Died mid-segment (OOM, SIGKILL): its segment is not running any more.
                (self.directory / metrics.RUNNING_DIR / f"{pid}.json").unlink(missing_ok=True)
                continue
            age.add_metric([entry["sweep"], entry["trial"]], max(0.0, now - entry["since"]))
        yield age


class LiveProcesses(MultiProcessCollector):
    """The trial processes' metrics; first forgets the live gauges of processes that are gone."""

    def __init__(self, directory: Path) -> None:
        super().__init__(None, path=str(directory))
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        for path in self.directory.glob("gauge_live*.db"):
            match = _LIVE_GAUGE_FILE.match(path.name)
            if match and not _alive(int(match.group(1))):
                with contextlib.suppress(FileNotFoundError):  # a concurrent scrape got there first
                    mark_process_dead(int(match.group(1)), str(self.directory))
        return super().collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running anything
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def prepare_multiprocess_dir(cache_dir: Path) -> Path:
    """A fresh directory for this worker's trial processes, exported as PROMETHEUS_MULTIPROC_DIR
    before they are spawned (prometheus_client reads it when a process creates its metrics).

    Per worker pid, so workers sharing a cache dir never merge each other's files; emptied at
    start, because a restarted container keeps its emptyDir and may reuse the pid; directories
    of workers that are gone are removed.
    """
    root = cache_dir / "prometheus"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.name.isdigit() and int(old.name) != os.getpid() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    directory = root / str(os.getpid())
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    os.environ[metrics.MULTIPROC_ENV] = str(directory)
    return directory


def worker_runtime(
    port: int, multiprocess_dir: Path | None = None, host: str = "127.0.0.1"
) -> Runtime | None:
    """The runtime a worker connects with: one that serves /metrics on `host`:`port`, or the
    SDK's default when the worker serves none (port 0)."""
    return telemetry_runtime(port, multiprocess_dir, host) if port else None


def telemetry_runtime(port: int, multiprocess_dir: Path | None = None, host: str = "127.0.0.1") -> Runtime:
    """A Temporal Runtime whose SDK metrics, with hpo's, are served on `host`:`port`.

    Binds `port` first: a port already in use fails the worker at start with its own error."""
    sdk_address = f"127.0.0.1:{free_port()}"
    registry = CollectorRegistry(auto_describe=False)
    # hpo's worker metrics come from trial processes only: a worker without them (the sweep
    # worker) serves the SDK's, which include the sweep workflow's gauges.
    if multiprocess_dir is not None:
        registry.register(LiveProcesses(multiprocess_dir))
        registry.register(RunningSegments(multiprocess_dir))
    registry.register(SdkMetrics(sdk_address))
    start_http_server(port, addr=host, registry=registry)
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=sdk_address, counters_total_suffix=True)
        )
    )
