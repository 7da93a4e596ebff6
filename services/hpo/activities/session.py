"""The TrialSession of one training attempt: checkpoints to S3, heartbeats, stop requests.

A Trial talks to this object only. It records whether a failure was hpo's own (S3 down:
retry the attempt) rather than the training code's (fail the trial), heartbeats from a
background thread so that long evaluations or silent commands never look like a dead
worker, and keeps the learning curve that it writes beside the checkpoints. It also feeds the
worker's Prometheus metrics (steps, checkpoint saves) through a SegmentMetrics.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from temporalio import activity

from hpo.activities.attempts import AttemptHistory
from hpo.storage.checkpoints import CheckpointStore
from hpo.storage.curves import curve_key
from hpo.trial import TrialError
from hpo.workers.metrics import SegmentMetrics

REPORT_HEARTBEAT_S = 1.0  # foreground heartbeats from report(): at most this often


class SegmentSession:
    def __init__(
        self,
        *,
        checkpoints: CheckpointStore,
        prefix: str,
        scratch: Path,
        meta: dict[str, Any],
        restored_key: str | None,
        restored_step: int,
        history: AttemptHistory,
        rung: int,
        telemetry: SegmentMetrics,
        accelerators: float = 1.0,
    ) -> None:
        self.checkpoints = checkpoints
        self.prefix = prefix
        self.scratch = scratch
        self.meta = meta
        self.last_key = restored_key
        self.step = restored_step
        self.metrics: dict[str, float] = {}
        self.curve: list[dict[str, float]] = []
        self.infra_error: BaseException | None = None
        self.telemetry = telemetry
        # Recorded in the heartbeat details, so the retried attempt knows it follows a preemption.
        self.stopped_by_worker = False
        self._counted_step = restored_step
        self._curve_key = curve_key(prefix, rung, restored_step)
        self.history = history
        self._attempt_start_step = restored_step
        # Accelerator-seconds are wall seconds × the accelerators this segment holds (hpo.ledger).
        self._accelerators = accelerators
        self._started = time.monotonic()
        self._last_beat = 0.0
        self._lock = threading.Lock()

    # -- TrialSession -------------------------------------------------------------------

    def save_checkpoint(self, step: int, directory: Path, info: dict[str, Any]) -> str:
        files = {p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*")) if p.is_file()}
        if not files:
            raise TrialError(f"checkpoint at step {step} is empty: write files into the checkpoint directory")
        started = time.monotonic()
        try:
            # The metrics reported so far travel with the checkpoint (see _checkpoint_metrics).
            meta = {**self.meta, "info": info, "metrics": self.metrics}
            key = self.checkpoints.save(self.prefix, step, files, meta)
            self._write_curve()
        except Exception as error:
            self.infra_error = error
            raise
        self.telemetry.checkpoint_saved(
            time.monotonic() - started, sum(path.stat().st_size for path in files.values())
        )
        self.last_key = key
        self.step = max(self.step, step)
        self.beat()
        return key

    def report(self, step: int, metrics: dict[str, float]) -> None:
        # Progress past this attempt's highest reported step: a step reported twice counts once.
        self.telemetry.steps(step - self._counted_step)
        self._counted_step = max(self._counted_step, step)
        self.step = step
        self.metrics = metrics
        # Wall-clock time too: reports plot progress against time and spend.
        self.curve.append({"step": step, "time": round(time.time(), 3), **metrics})
        if time.monotonic() - self._last_beat >= REPORT_HEARTBEAT_S:
            self.beat()

    def stopping(self) -> bool:
        if activity.is_worker_shutdown():
            self.stopped_by_worker = True
            return True
        return activity.is_cancelled()

    # -- heartbeats ---------------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Accelerator-seconds of this trial so far: earlier attempts' plus this one's."""
        return self.history.seconds + self.attempt_seconds

    @property
    def attempt_seconds(self) -> float:
        """Accelerator-seconds of this attempt alone (what this worker spent)."""
        return (time.monotonic() - self._started) * self._accelerators

    def details(self) -> dict[str, Any]:
        # What a retry (or the execution after a preemption) reads back: where to resume, what
        # was spent, and the ledger's running totals (attempts.py).
        return {
            **self.history.details(),
            "step": self.step,
            "checkpoint_key": self.last_key,
            "seconds": round(self.seconds, 3),
            "metrics": self.metrics,
            "stopped_by_worker": self.stopped_by_worker,
            "attempt_start_step": self._attempt_start_step,
            "attempt_seconds": round(self.attempt_seconds, 3),
        }

    def beat(self) -> None:
        with self._lock:
            self._last_beat = time.monotonic()
            activity.heartbeat(self.details())

    @contextlib.contextmanager
    def heartbeating(self, every: float) -> Iterator[None]:
        """Heartbeat every `every` seconds while the block runs: liveness is the worker's, not
        how often the training code reports. (A copy of the activity's context: heartbeat()
        finds its activity through a context variable.)"""
        context = contextvars.copy_context()
        done = threading.Event()

        def loop() -> None:
            while not done.wait(every):
                context.run(self.beat)

        thread = threading.Thread(target=loop, name="hpo-heartbeat", daemon=True)
        self.beat()
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _write_curve(self) -> None:
        # One object per segment attempt, rewritten at each checkpoint and at the end: compact,
        # and never in the workflow's history.
        if self.curve:
            import json

            body = "\n".join(json.dumps(row, allow_nan=True) for row in self.curve) + "\n"
            self.checkpoints.store.put_bytes(self._curve_key, body.encode())

    def finish(self) -> None:
        try:
            self._write_curve()
        except Exception as error:
            self.infra_error = error
            raise
