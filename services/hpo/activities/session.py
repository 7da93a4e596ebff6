"""The TrialSession of one training attempt: checkpoints to S3, heartbeats, stop requests.

A Trial talks to this object only. It records whether a failure was hpo's own (S3 down:
retry the attempt) rather than the training code's (fail the trial), heartbeats from a
background thread so that long evaluations or silent commands never look like a dead
worker, and keeps the learning curve that it writes beside the checkpoints. The same thread
watches the training's progress and ends it as hung when its step stops advancing
(progress.py, interrupt.py). It also feeds the worker's Prometheus metrics (steps,
checkpoint saves) through a SegmentMetrics.

Only the heartbeat thread talks to Temporal while the training runs: the training thread
asks it to beat (report, save), so an interrupt raised into the training code can never land
half-way through a heartbeat's exchange with the worker process.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from temporalio import activity

from hpo.activities.attempts import AttemptHistory
from hpo.activities.interrupt import Interrupter
from hpo.activities.progress import Hang, Progress, watch_interval
from hpo.activities.pruning import CURVE_EVERY_S, CurvePruner
from hpo.activities.sweep_watch import SweepWatch
from hpo.contracts.segment_details import SegmentDetails
from hpo.storage.checkpoint_files import checkpoint_files
from hpo.storage.checkpoints import CheckpointStore, step_of
from hpo.storage.curves import curve_key
from hpo.telemetry.metrics import SegmentMetrics
from hpo.trial import TrialError

log = logging.getLogger("hpo.trial")
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
        trial_id: str = "",
        progress_timeout_s: float = float("inf"),
        max_hangs: int = 1,
        started: tuple[float, float] | None = None,
        watch: SweepWatch | None = None,
        pruner: CurvePruner | None = None,
        checkpoint_max_bytes: int = 50 * 1024**3,
    ) -> None:
        self.checkpoints = checkpoints
        self.checkpoint_max_bytes = checkpoint_max_bytes
        # Asked from the heartbeat thread whether the sweep still runs (sweep_watch.py).
        self.watch = watch
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
        # Accelerator-seconds are wall seconds × the accelerators this segment holds (hpo.engine.ledger),
        # from when the attempt got its slot: (monotonic, unix) seconds. The unix time travels in
        # the heartbeat details: a retry after a crash counts the dead attempt's time from it.
        self._accelerators = accelerators
        self._started, self._started_at = started or (time.monotonic(), time.time())
        self._last_beat = 0.0
        self._lock = threading.Lock()
        self.trial_id = trial_id
        self.progress = Progress(timeout_s=progress_timeout_s, step=restored_step, since=self._started)
        self._productive_at = self._started  # the last step or checkpoint: what the steps cost
        self._max_hangs = max_hangs
        self.hang: Hang | None = None  # set once this attempt is ended as hung
        self.ended = False  # set when this attempt ends itself: its final details say so
        self._wake: threading.Event | None = None  # wakes the heartbeat thread, while it runs
        self._heartbeat_thread: threading.Thread | None = None
        self._interrupter: Interrupter | None = None  # the training's, while it runs
        self.pruner = pruner  # the spec's stopping rule, judged against the other trials' curves
        self.pruned: str | None = None  # why the pruner stopped this segment
        self._curve_written_at = -float("inf")

    # -- TrialSession -------------------------------------------------------------------

    def save_checkpoint(self, step: int, directory: Path, info: dict[str, Any]) -> str:
        # Regular files only, links never followed: the upload runs with the worker's credentials.
        files = checkpoint_files(
            directory, self.checkpoint_max_bytes, f"trial {self.trial_id} at step {step}"
        )
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
        self._advanced(step, saved=True)
        self.beat()
        return key

    def report(self, step: int, metrics: dict[str, float]) -> None:
        # Progress past this attempt's highest reported step: a step reported twice counts once.
        self.telemetry.steps(step - self._counted_step)
        self._counted_step = max(self._counted_step, step)
        self.step = step
        self._advanced(step)
        self.metrics = metrics
        # Wall-clock time too: reports plot progress against time and spend.
        self.curve.append({"step": step, "time": round(time.time(), 3), **metrics})
        if self.pruner is not None and time.monotonic() - self._curve_written_at >= CURVE_EVERY_S:
            # Other trials' pruners judge against this curve: keep it recent in S3.
            try:
                self._write_curve()
            except Exception as error:
                log.warning("trial %s: could not write its curve (%s)", self.trial_id, error)
        if time.monotonic() - self._last_beat >= REPORT_HEARTBEAT_S:
            self.beat()

    def stopping(self) -> bool:
        interrupter = self._interrupter
        with interrupter.shielded() if interrupter is not None else contextlib.nullcontext():
            if activity.is_worker_shutdown():
                self.stopped_by_worker = True
                return True
            if activity.is_cancelled() or self.sweep_ended is not None:
                return True
            if self.pruner is not None and self.pruned is None:
                try:
                    self.pruned = self.pruner.decide(self.curve)
                except Exception as error:  # S3 out of reach: no pruning now, training goes on
                    log.warning("trial %s: could not judge its curve (%s)", self.trial_id, error)
            return self.pruned is not None

    @property
    def sweep_ended(self) -> str | None:
        """Why this segment must stop because its sweep has ended; None while it runs."""
        return self.watch.reason if self.watch is not None else None

    # -- heartbeats ---------------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Accelerator-seconds of this trial so far: earlier attempts' plus this one's."""
        return self.history.seconds + self.attempt_seconds

    @property
    def attempt_seconds(self) -> float:
        """Accelerator-seconds of this attempt alone (what this worker spent)."""
        return (time.monotonic() - self._started) * self._accelerators

    def _advanced(self, step: int, saved: bool = False) -> None:
        now = time.monotonic()
        if self.progress.advance(step, now) or saved:
            self._productive_at = now

    def details(self) -> SegmentDetails:
        # What a retry (or the execution after a preemption) reads back: where to resume, what
        # was spent, and the ledger's running totals (attempts.py).
        return SegmentDetails(
            **{
                **self.history.details(),
                "step": self.step,
                "checkpoint_key": self.last_key,
                "seconds": round(self.seconds, 3),
                "metrics": self.metrics,
                "stopped_by_worker": self.stopped_by_worker,
                "attempt_start_step": self._attempt_start_step,
                "attempt_seconds": round(self.attempt_seconds, 3),
                "attempt_started_at": round(self._started_at, 3),
                "productive_seconds": round((self._productive_at - self._started) * self._accelerators, 3),
                "accelerators": self._accelerators,
                "hangs": self.history.hangs + (1 if self.hang is not None else 0),
                "ended": self.ended,
            }
        )

    def final_details(self) -> SegmentDetails:
        """This attempt's details as if it ended now, resuming from its newest checkpoint: what
        the trial spent and lost, for a failure that nothing retries (the workflow reads them)."""
        details = self.details().model_copy(update={"ended": True})
        closed = AttemptHistory.after(details, self.saved_step())
        return details.model_copy(
            update={"lost_seconds": round(closed.lost_seconds, 3), "redone_steps": closed.redone_steps}
        )

    def saved_step(self) -> int:
        """Step of the newest checkpoint this attempt has (restored or saved); 0 without one."""
        return step_of(self.last_key) if self.last_key else 0

    def end(self) -> None:
        """This attempt is ending itself (an error, a hang, a preemption): one last heartbeat
        says so, so a retry counts its measured time rather than the time until the retry."""
        self.ended = True
        with contextlib.suppress(Exception):  # the error being raised matters more
            self.beat()

    def beat(self) -> None:
        wake = self._wake
        if wake is not None and threading.current_thread() is not self._heartbeat_thread:
            wake.set()  # the heartbeat thread sends it (see the module docstring)
            return
        with self._lock:
            self._last_beat = time.monotonic()
            activity.heartbeat(self.details().wire())

    @contextlib.contextmanager
    def heartbeating(self, every: float) -> Iterator[None]:
        """Heartbeat every `every` seconds while the block runs: liveness is the worker's, not
        how often the training code reports. Meanwhile, end the block's code as hung when its
        step stops advancing (it runs in this thread: the Interrupter raises TrialHung there).
        (A copy of the activity's context: heartbeat() finds its activity through a context
        variable.)"""
        context = contextvars.copy_context()
        done = threading.Event()
        wake = threading.Event()
        interval = watch_interval(self.progress.timeout_s, every)

        def loop() -> None:
            while True:
                asked = wake.wait(interval)
                wake.clear()
                if done.is_set():
                    return
                now = time.monotonic()
                if self.watch is not None:
                    self.watch.ended()  # asks Temporal now and then, in the background
                if self.hang is not None:
                    if interrupter.overdue(now):
                        interrupter.escalate(f"trial {self.trial_id} hangs at step {self.progress.step}")
                    continue  # no more heartbeats: if it cannot be ended, Temporal times it out
                if self.progress.hung(now):
                    # Declared only while the training still runs (under the interrupter's lock):
                    # a segment that just returned is not hung. The beat is its last one: a
                    # retry reads the hang from it.
                    interrupter.interrupt(before=lambda: (self._declare_hang(), context.run(self.beat)))
                elif asked or now - self._last_beat >= every:
                    context.run(self.beat)

        with Interrupter() as interrupter:
            self._interrupter = interrupter
            self.progress.restart(time.monotonic())
            self.beat()
            self._heartbeat_thread = threading.Thread(target=loop, name="hpo-heartbeat", daemon=True)
            self._heartbeat_thread.start()
            self._wake = wake
            try:
                yield
            finally:
                self._wake = None
                self._interrupter = None
                done.set()
                wake.set()
                self._heartbeat_thread.join()

    def _declare_hang(self) -> None:
        self.hang = Hang(
            trial_id=self.trial_id,
            step=self.progress.step,
            timeout_s=self.progress.timeout_s,
            count=self.history.hangs + 1,
            max_hangs=self._max_hangs,
            resume_step=self.saved_step() or None,
        )
        activity.logger.warning("%s; ending it", self.hang.message(final=False))

    def _write_curve(self) -> None:
        # One object per segment attempt, rewritten at each checkpoint and at the end: compact,
        # and never in the workflow's history.
        if self.curve:
            import json

            body = "\n".join(json.dumps(row, allow_nan=True) for row in self.curve) + "\n"
            self.checkpoints.store.put_bytes(self._curve_key, body.encode())
            self._curve_written_at = time.monotonic()

    def finish(self) -> None:
        try:
            self._write_curve()
        except Exception as error:
            self.infra_error = error
            raise
