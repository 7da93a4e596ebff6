"""One way to reach Temporal, with an error that says what to do when it is not there."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from hpo.contracts.settings import Settings


class TemporalUnavailable(RuntimeError):
    """The Temporal frontend cannot be reached."""


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; a worker passes the runtime that serves its /metrics (hpo.workers.metrics_endpoint)."""
    runtime = runtime or Runtime.default()
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
