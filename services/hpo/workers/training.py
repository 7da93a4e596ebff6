"""Training worker: prepare-data, train-segment and predict activities on the training queue.

Each activity runs in its own spawned process: torch's global RNG, thread pool and
memory are per trial, so concurrent trials stay bit-for-bit reproducible, and a crash
in one trial cannot take the others down. With HPO_METRICS_PORT, those processes write hpo's
metrics into a per-worker directory that the worker's /metrics merges (metrics_endpoint.py).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing.managers import SyncManager
from pathlib import Path

from temporalio.worker import SharedStateManager, Worker

from hpo.activities.predict import PredictActivities
from hpo.activities.prepare import PrepareActivities
from hpo.activities.segment import TrainingActivities
from hpo.connections.temporal import connect
from hpo.contracts.settings import Settings
from hpo.proc import die_with_parent
from hpo.workers.metrics_endpoint import worker_runtime
from hpo.workers.run import GRACEFUL_SHUTDOWN, run_until_signalled, stop_on_signals

HEARTBEAT_THROTTLE = timedelta(seconds=3)


def _init_trial_process(threads: int) -> None:
    die_with_parent()
    # SIGINT goes to the whole process group on Ctrl-C: let the parent decide how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    import hpo.activities.segment  # noqa: F401  (seconds of imports, paid once per process)

    torch.set_num_threads(threads)


def _ready() -> int:
    return os.getpid()


def warm_up(executor: ProcessPoolExecutor, processes: int) -> None:
    """Start every trial process before polling: an activity's heartbeat clock starts when it
    is handed to the worker, and must not be spent on spawning Python and importing torch."""
    futures = [executor.submit(_ready) for _ in range(processes)]
    for future in futures:
        future.result()


def _pool_broken(executor: ProcessPoolExecutor) -> bool:
    return bool(getattr(executor, "_broken", False))


def default_threads(concurrency: int) -> int:
    return max(1, (os.cpu_count() or 1) // concurrency)


def _metrics_dir(settings: Settings) -> Path | None:
    """Where the trial processes write hpo's metrics for the /metrics endpoint; set before they
    are spawned, since they inherit it."""
    if not settings.metrics_port:
        return None
    from hpo.workers.metrics_endpoint import prepare_multiprocess_dir

    return prepare_multiprocess_dir(settings.cache_dir)


async def run_training_worker(settings: Settings, concurrency: int, threads: int | None = None) -> None:
    stop = stop_on_signals()
    metrics_dir = _metrics_dir(settings)
    context = multiprocessing.get_context("spawn")
    manager = SyncManager(ctx=context)
    manager.start(initializer=die_with_parent)
    executor = ProcessPoolExecutor(
        max_workers=concurrency,
        mp_context=context,
        initializer=_init_trial_process,
        initargs=(threads or default_threads(concurrency),),
    )
    client = await connect(
        settings, worker_runtime(settings.metrics_port, metrics_dir, settings.metrics_host)
    )
    await asyncio.to_thread(warm_up, executor, concurrency)
    worker = Worker(
        client,
        task_queue=settings.training_queue,
        activities=[
            PrepareActivities(settings).prepare_data,
            TrainingActivities(settings).train_segment,
            PredictActivities(settings).predict,
        ],
        activity_executor=executor,
        shared_state_manager=SharedStateManager.create_from_multiprocessing(manager),
        max_concurrent_activities=concurrency,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Heartbeats carry each segment's step and metrics to whoever follows the sweep: send
        # them every few seconds, not once a minute (the SDK's default throttle).
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
    )
    try:
        # A trial process that died hard (OOM, segfault) breaks the pool for good: exit, so the
        # supervisor (Kubernetes, `hpo up`) starts a fresh worker instead of failing every trial.
        await run_until_signalled(worker, "training", stop, healthy=lambda: not _pool_broken(executor))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        manager.shutdown()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
