"""Run a worker until SIGINT/SIGTERM, then shut down gracefully.

On SIGTERM (pod eviction, scale-in) the worker stops polling and running training
activities see `is_worker_shutdown()`: they checkpoint and fail retryably, so another
worker resumes them from that step instead of from the last interval.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import timedelta

from temporalio.worker import Worker

log = logging.getLogger("hpo.worker")


def stop_on_signals() -> asyncio.Event:
    """Install SIGINT/SIGTERM handlers first thing, so a signal during start-up (connecting,
    spawning trial processes) is a clean stop rather than a kill."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


class WorkerUnhealthy(RuntimeError):
    """The worker cannot do its job any more and must be replaced."""


async def _watch(healthy: Callable[[], bool], stop: asyncio.Event) -> bool:
    while not stop.is_set():
        if not healthy():
            return False
        await asyncio.sleep(HEALTH_CHECK_S)
    return True


async def run_until_signalled(
    worker: Worker, name: str, stop: asyncio.Event, healthy: Callable[[], bool] = lambda: True
) -> None:
    if stop.is_set():
        return
    task = asyncio.create_task(worker.run())
    log.info("%s worker polling %s", name, worker.task_queue)
    watch = asyncio.create_task(_watch(healthy, stop))
    await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        log.info("%s worker shutting down", name)
        await worker.shutdown()
    await task
    if watch.done() and watch.result() is False:
        raise WorkerUnhealthy(
            f"{name} worker is unhealthy (a trial process died hard); exiting to be replaced"
        )
    watch.cancel()


GRACEFUL_SHUTDOWN = timedelta(minutes=4)
HEALTH_CHECK_S = 2.0
