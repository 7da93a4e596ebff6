"""Ending training code that hangs, from the heartbeat thread.

The training runs in the thread that entered the Interrupter: on a training worker, the main
thread of the trial's own process (workers/training.py). There, `interrupt()` raises
hpo.trial.TrialHung at the training code's next Python bytecode:
- in the main thread through a signal whose handler raises it; the signal also wakes a
  blocking call (sleep, a lock, a queue, a pipe, a subprocess wait) to run the handler;
- in any other thread through PyThreadState_SetAsyncExc, which cannot wake a blocking call.
A command trial is interrupted in its polling loop, whose `finally` kills its process group
(tasks/command.py). Code blocked in C that never returns to Python (a NCCL wait) cannot be
interrupted: `escalate()` then ends the trial process, which the training worker treats as
any trial process that died hard (it exits to be replaced; the trials it ran resume from their
checkpoints, and the retry counts the dead attempts' time). Outside a trial process nothing
more can be done: heartbeats have stopped, so Temporal times the attempt out and retries it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType
from typing import Any

from hpo.trial import TrialHung

log = logging.getLogger("hpo.trial")

SIGNAL = signal.SIGUSR1
ESCALATE_AFTER_S = 30.0  # an interrupted function that has not returned by then never will
EXIT_HUNG = 75  # the trial process's exit status when it is ended for a hang it cannot leave


class Interrupter:
    def __init__(self) -> None:
        self._thread_id = threading.get_ident()
        self._main = threading.current_thread() is threading.main_thread()
        self._lock = threading.Lock()
        self._armed = False
        self._fired_at: float | None = None
        self._previous: Any = None
        self._shields = 0
        self._deferred = False
        self._escalated = False

    def __enter__(self) -> Interrupter:
        if self._main:
            self._previous = signal.signal(SIGNAL, self._handle)
        self._armed = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._armed = False
            fired = self._fired_at is not None
        if fired and not self._main:
            # A raise still pending (the code got out before its next bytecode) must not go
            # off later in hpo's own code.
            _set_async_exc(self._thread_id, None)
        if self._main and callable(self._previous):
            signal.signal(SIGNAL, self._previous)
        # Otherwise the (disarmed, harmless) handler stays: with the default disposition back, a
        # signal sent just before disarming but delivered after would kill the process.

    def interrupt(self, before: Callable[[], object] = lambda: None) -> bool:
        """Raise TrialHung in the training thread, after `before()`; False (and nothing done)
        once the training has ended: its end waits for this."""
        with self._lock:
            if not self._armed or self._fired_at is not None:
                return False
            before()
            self._fired_at = time.monotonic()
            if self._main:
                signal.pthread_kill(self._thread_id, SIGNAL)
            else:
                _set_async_exc(self._thread_id, TrialHung)
            return True

    def overdue(self, now: float) -> bool:
        """Interrupted long ago and still running: the code is stuck outside Python."""
        with self._lock:
            fired = self._fired_at
            return (
                self._armed and not self._escalated and fired is not None and now - fired >= ESCALATE_AFTER_S
            )

    def escalate(self, what: str) -> None:
        self._escalated = True
        if multiprocessing.parent_process() is None:
            log.error(
                "%s and did not stop when interrupted; it runs in the worker's own process, so its "
                "thread stays blocked until the worker restarts (the attempt is retried elsewhere)",
                what,
            )
            return
        log.critical("%s and did not stop when interrupted: ending its trial process", what)
        logging.shutdown()
        os._exit(EXIT_HUNG)

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """A call of hpo's own that talks to the worker process (a stop request's look at a
        shared event): an interrupt waits until it is done, since an exchange cut half-way
        would break the next one on this process. (Only the signal can wait.)"""
        if not self._main or threading.get_ident() != self._thread_id:
            yield
            return
        self._shields += 1
        try:
            yield
        finally:
            self._shields -= 1
            if self._deferred and not self._shields:
                self._deferred = False
                raise _hung()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self._armed or self._fired_at is None:
            return
        if self._shields:
            self._deferred = True
            return
        raise _hung()


def _hung() -> TrialHung:
    return TrialHung("the training made no progress and was ended by hpo (training.progress_timeout_s)")


def _set_async_exc(thread_id: int, kind: type[BaseException] | None) -> None:
    # None clears a pending exception (NULL in C; ctypes passes None as NULL for an untyped arg).
    exc = ctypes.py_object(kind) if kind is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), exc)
