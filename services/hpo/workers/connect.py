"""One way to reach Temporal, with an error that says what to do when it is not there."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from hpo.settings import Settings


class TemporalUnavailable(RuntimeError):
    """The Temporal frontend cannot be reached."""


def _runtime(metrics_port: int) -> Runtime | None:
    if not metrics_port:
        return None
    # The SDK's own exporter: task-queue, poll, activity and workflow metrics per worker.
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}"))
    )


async def connect(settings: Settings, metrics_port: int = 0) -> Client:
    # Outside the try: a metrics port already in use is its own error, not "Temporal unreachable".
    runtime = _runtime(metrics_port) or Runtime.default()
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
