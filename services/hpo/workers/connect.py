"""One way to reach Temporal, with an error that says what to do when it is not there."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from hpo.settings import Settings


class TemporalUnavailable(RuntimeError):
    """The Temporal frontend cannot be reached."""


def _runtime(metrics_port: int, multiprocess_dir: Path | None) -> Runtime | None:
    if not metrics_port:
        return None
    # Imported here: clients that serve no metrics (the CLI) need none of it.
    from hpo.workers.metrics_endpoint import telemetry_runtime

    # The SDK's own metrics (task-queue, poll, activity and workflow metrics) and hpo's.
    return telemetry_runtime(metrics_port, multiprocess_dir)


async def connect(settings: Settings, metrics_port: int = 0, multiprocess_dir: Path | None = None) -> Client:
    """A client; with `metrics_port`, also the worker's /metrics endpoint (SDK + hpo metrics,
    hpo's read from `multiprocess_dir` when trial processes write them there)."""
    # Outside the try: a metrics port already in use is its own error, not "Temporal unreachable".
    runtime = _runtime(metrics_port, multiprocess_dir) or Runtime.default()
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            runtime=runtime,
        )
    except Exception as error:  # the SDK raises RuntimeError with a transport message
        raise TemporalUnavailable(
            f"Temporal at {settings.temporal_address} is unreachable ({str(error).splitlines()[0]}); "
            "start the embedded stack with `hpo up` or set HPO_TEMPORAL_ADDRESS"
        ) from None
