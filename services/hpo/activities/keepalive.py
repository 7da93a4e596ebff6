"""Heartbeats while a segment is not training yet: fetching the sweep's code and downloading
the checkpoint it resumes from can take longer than the heartbeat timeout (a large model), and
a silent attempt would be declared dead and retried while it is working."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

from temporalio import activity


@contextlib.contextmanager
def heartbeating(every: float, *details: Any) -> Iterator[None]:
    """Heartbeat `details` every `every` seconds until the block ends; nothing if it ends sooner.

    Not at once: the SDK sends a first heartbeat at once and throttles the next ones, so a
    beat here would delay the attempt's first own heartbeat (what a retry reads if this
    attempt dies early). The details are the ones this attempt started from (the execution it
    follows), sent again unchanged: an attempt that dies during a long download leaves its
    retry the same starting point (its download seconds are not billed; its training, which
    has not begun, is not lost)."""
    done = threading.Event()
    context = contextvars.copy_context()  # heartbeat() finds its activity through the context

    def loop() -> None:
        while not done.wait(every):
            context.run(activity.heartbeat, *details)

    thread = threading.Thread(target=loop, name="hpo-keepalive", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
