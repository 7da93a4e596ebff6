"""One way to reach Temporal, with an error that says what to do when it is not there."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from hpo.connections.temporal_tls import (
    TemporalSecurity,
    TemporalSecurityError,
    connection_failure,
    files_to_read,
    security,
)
from hpo.contracts.settings import Settings


class TemporalUnavailable(RuntimeError):
    """The Temporal frontend cannot be reached, or the settings to reach it are unusable."""


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; a worker passes the runtime that serves its /metrics (hpo.workers.metrics_endpoint).
    TLS, mTLS and an API key come from the HPO_TEMPORAL_TLS_* / HPO_TEMPORAL_API_KEY* settings."""
    secured = temporal_security(settings)
    runtime = runtime or Runtime.default()
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            runtime=runtime,
            tls=secured.tls,
            api_key=secured.api_key,
        )
    except Exception as error:  # the SDK raises RuntimeError with a transport message
        raise TemporalUnavailable(connection_failure(settings, str(error))) from None


def temporal_security(settings: Settings) -> TemporalSecurity:
    """The settings' TLS files read (each a path: a mounted Secret works), checked and mapped."""
    try:
        files = files_to_read(settings)
        return security(settings, {name: _read(name, path) for name, path in files.items()})
    except TemporalSecurityError as error:
        raise TemporalUnavailable(str(error)) from None


def _read(variable: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TemporalSecurityError(
            f"{variable}={path} cannot be read ({error.strerror or error}): point {variable} at the "
            "mounted file (a Secret's key), or unset it"
        ) from None
