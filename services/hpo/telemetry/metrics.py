"""hpo's own Prometheus metrics: every name, help text and bucket in one place.

Training facts are recorded where they happen, inside the trial processes that the training
worker spawns. Those processes cannot serve HTTP, so prometheus_client's multiprocess mode
carries their values to the worker: each process writes its samples into
PROMETHEUS_MULTIPROC_DIR (set by the worker, see metrics_endpoint.py) and the worker's
/metrics endpoint merges the files. Without that variable (a worker serving no metrics, a
test calling an activity in-process) the same calls update in-memory metrics nobody serves.

Labels stay low-cardinality: counters that grow forever carry at most the sweep id; only the
checkpoint-age gauge names a trial, and it exists only while that trial's segment runs.
Sweep-level facts (trials by state, best objective) live in the sweep workflow:
hpo.telemetry.sweep_metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

from prometheus_client import Counter, Gauge, Histogram
from temporalio.exceptions import ApplicationError, CancelledError

from hpo.telemetry import sweep_metrics

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Under the multiprocess directory: one small JSON file per trial process with a running segment.
RUNNING_DIR = "running-segments"

RUNNING_SEGMENTS = Gauge(
    "hpo_running_segments",
    "Training segments running on this worker now.",
    # Summed over the live trial processes only: a process that died mid-segment is pruned.
    multiprocess_mode="livesum",
)
SEGMENTS = Counter(
    "hpo_segments",
    "Training segment attempts by how they ended: completed (scored), failed (an error; Temporal "
    "may retry it), stopped (the worker shut down and checkpointed), cancelled (timed out or "
    "cancelled: a newer attempt owns the trial).",
    ["outcome"],
)
CHECKPOINT_SAVE_SECONDS = Histogram(
    "hpo_checkpoint_save_seconds",
    "Seconds from the training code handing over a checkpoint's files to the checkpoint being "
    "durable in S3 (hashing, upload, manifest, pruning): the pause a checkpoint adds to training.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
CHECKPOINT_BYTES = Counter("hpo_checkpoint_bytes", "Bytes of checkpoint files uploaded to S3.")
RESUMES = Counter(
    "hpo_resumes",
    "Segments that resumed from a checkpoint, by cause: promotion (a higher rung continues the "
    "trial), crash (a retried attempt), preemption (the previous attempt's worker shut down).",
    ["cause"],
)
TRAINING_STEPS = Counter(
    "hpo_training_steps", "Training steps reported by trials (rate() is throughput).", ["sweep"]
)
ACCELERATOR_SECONDS = Counter(
    "hpo_accelerator_seconds",
    "Wall seconds training segments held this worker's accelerator, every attempt included.",
    ["sweep"],
)
# Computed at scrape time from the running-segment files (metrics_endpoint.py): an age must grow
# between checkpoints, and the series must vanish when the segment ends, which a multiprocess
# gauge (values in files that outlive the segment) cannot do.
CHECKPOINT_AGE = "hpo_newest_checkpoint_age_seconds"
CHECKPOINT_AGE_HELP = (
    "Seconds since the running segment's newest checkpoint (since its start before the first "
    "one): the training a crash now would lose. One series per running segment."
)
# Whether the Temporal SDK's own exporter answered the last scrape (metrics_endpoint.py).
SDK_UP = "hpo_sdk_metrics_up"
SDK_UP_HELP = "1 if the Temporal SDK's metrics were included in this scrape, 0 if its exporter failed."

WORKER_METRICS = (
    RUNNING_SEGMENTS,
    SEGMENTS,
    CHECKPOINT_SAVE_SECONDS,
    CHECKPOINT_BYTES,
    RESUMES,
    TRAINING_STEPS,
    ACCELERATOR_SECONDS,
)


def series_names() -> frozenset[str]:
    """Every series name hpo exports, as PromQL sees it (counters end in _total, histograms
    have _bucket/_sum/_count), from the worker endpoint and the sweep workflow alike."""
    names = {CHECKPOINT_AGE, SDK_UP, *sweep_metrics.NAMES}
    for metric in WORKER_METRICS:
        for family in metric.describe():
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return frozenset(names)


class RunningSegment(TypedDict):
    sweep: str
    trial: str
    since: float  # unix time from which a crash would lose work (segment start, newest checkpoint)


class SegmentMetrics:
    """What one training attempt reports: the running gauge and its checkpoint age while it
    runs, then how it ended and the seconds it held the accelerator."""

    def __init__(self, sweep_id: str, trial_id: str) -> None:
        self.sweep_id = sweep_id
        self.trial_id = trial_id
        self._running_file = _running_file()

    @contextlib.contextmanager
    def running(self, seconds: Callable[[], float]) -> Iterator[None]:
        """The segment runs inside the block; how the block ends is its outcome, and
        `seconds()` what it spent."""
        RUNNING_SEGMENTS.inc()
        self._mark_progress_safe()
        outcome = "failed"
        try:
            yield
            outcome = "completed"
        except BaseException as error:
            outcome = outcome_of(error)
            raise
        finally:
            RUNNING_SEGMENTS.dec()
            if self._running_file is not None:
                self._running_file.unlink(missing_ok=True)
            SEGMENTS.labels(outcome).inc()
            ACCELERATOR_SECONDS.labels(self.sweep_id).inc(max(0.0, seconds()))

    def resumed(self, cause: str) -> None:
        RESUMES.labels(cause).inc()

    def steps(self, count: int) -> None:
        if count > 0:
            TRAINING_STEPS.labels(self.sweep_id).inc(count)

    def checkpoint_saved(self, seconds: float, size: int) -> None:
        CHECKPOINT_SAVE_SECONDS.observe(seconds)
        CHECKPOINT_BYTES.inc(size)
        self._mark_progress_safe()

    def _mark_progress_safe(self) -> None:
        """Record "nothing to lose as of now" for the checkpoint-age gauge."""
        if self._running_file is None:
            return
        entry = RunningSegment(sweep=self.sweep_id, trial=self.trial_id, since=time.time())
        partial = self._running_file.with_suffix(".tmp")
        try:
            partial.write_text(json.dumps(entry))
            partial.replace(self._running_file)  # atomic: the endpoint may read it at any moment
        except OSError:
            pass  # a metric is never worth failing a trial over (full disk, worker cleaning up)


def outcome_of(error: BaseException) -> str:
    """The `outcome` label of a segment attempt that raised `error`."""
    if isinstance(error, ApplicationError) and error.type == "WorkerShutdown":
        return "stopped"
    if isinstance(error, CancelledError):
        return "cancelled"
    return "failed"


def _running_file() -> Path | None:
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return None
    path = Path(directory) / RUNNING_DIR
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return None
    return path / f"{os.getpid()}.json"


def running_segments(directory: Path) -> dict[int, RunningSegment]:
    """Every running segment of the trial processes writing into `directory`, by pid."""
    found: dict[int, RunningSegment] = {}
    for path in (directory / RUNNING_DIR).glob("*.json"):
        try:
            found[int(path.stem)] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed or replaced between listing and reading
    return found
