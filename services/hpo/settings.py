"""Process settings, read from the environment in this one place.

Everything a user decides about a sweep lives in the spec (spec.py); this module only
says where the servers are and how to reach them, so the same code runs on a laptop
(`hpo up`) and in a cluster (the Helm chart sets these variables).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TRAINING_QUEUE = "hpo-training"
SWEEP_QUEUE = "hpo-sweeps"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPO_", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    # Temporal Web UI, for links to sweeps; unset: the embedded stack's on a default address.
    temporal_ui: str = ""
    training_queue: str = TRAINING_QUEUE
    sweep_queue: str = SWEEP_QUEUE

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_bucket: str = "hpo"
    s3_region: str = "us-east-1"
    # Standard AWS names so a Kubernetes Secret or an IAM setup works unchanged.
    s3_access_key: str = Field(
        default="hpo-dev", validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "HPO_S3_ACCESS_KEY")
    )
    s3_secret_key: str = Field(
        default="hpo-dev-secret",
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "HPO_S3_SECRET_KEY"),
    )

    # Where `hpo up` keeps the embedded stack's state (Temporal DB, S3 data, logs).
    home: Path = Path(".hpo")
    # Local scratch space for tokenizer files and model staging; must be writable
    # (an emptyDir on a read-only-root pod).
    cache_dir: Path = Path("/tmp/hpo-cache")
    # Prometheus /metrics port of a worker process; 0 turns the endpoint off.
    metrics_port: int = 0
    # How long `hpo sweep run` / `watch` keep trying to reach a Temporal server that went away
    # (a restart, a network blip) before giving up; the sweep itself never depends on them.
    reconnect_timeout_s: float = Field(default=600.0, ge=0)
    # Largest code directory (task.code) `hpo sweep run` ships to the workers.
    code_max_bytes: int = 100 * 1024 * 1024
    # The worker pool's price per accelerator-hour (training workers report it with every
    # segment; it wins over the spec's `price:`); 0 = unknown. See hpo.ledger.
    price_per_hour: float = 0.0
    # The currency of price_per_hour (ISO 4217 code).
    currency: str = "USD"
    # Accelerators one training segment holds on this worker (GPUs per trial; 1 on a CPU
    # worker, whose slot counts as one accelerator): accelerator-seconds = wall seconds × this.
    accelerators_per_trial: float = Field(default=1.0, gt=0)


def temporal_ui_url(settings: Settings) -> str | None:
    """Where the Web UI is, when known: set, or the embedded stack's default (`hpo up`)."""
    if settings.temporal_ui:
        return settings.temporal_ui.rstrip("/")
    return "http://127.0.0.1:8233" if settings.temporal_address == "127.0.0.1:7233" else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
