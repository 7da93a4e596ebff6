"""Process settings, read from the environment in this one place.

Everything a user decides about a sweep lives in the spec (spec.py); this module only
says where the servers are and how to reach them, so the same code runs on a laptop
(`hpo up`) and in a cluster (the Helm chart sets these variables).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    # Named pools of training workers, comma-separated, the default first (hpo.contracts.pools):
    # the first polls training_queue, pool NAME polls `<training_queue>-NAME`. Unset: one pool.
    pools: str = ""
    sweep_queue: str = SWEEP_QUEUE
    # A secured Temporal (TLS, mTLS, Temporal Cloud's API keys); hpo.connections.temporal_tls
    # turns these into the SDK's arguments and checks that they fit together. TLS: unset = on
    # as soon as a file, a server name or an API key below is set; false forces plaintext.
    temporal_tls: bool | None = None
    # Paths, never contents, so a Kubernetes Secret mounted as files works: the server's CA
    # bundle (PEM; unset = the system's roots), the mTLS client certificate and its key.
    temporal_tls_ca: Path | None = None
    # The name the server's certificate is checked against and sent as SNI (unset: the host).
    temporal_tls_server_name: str = ""
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    # A Temporal Cloud API key, or a file holding one (a mounted Secret; the key then stays
    # out of the environment of every process a worker starts). Sent as a bearer token.
    temporal_api_key: SecretStr | None = None
    temporal_api_key_file: Path | None = None

    @field_validator(
        "temporal_tls", "temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key",
        "temporal_api_key", "temporal_api_key_file",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # A variable set to "" (an optional chart value left empty) means "not set", not the
        # current directory or an empty key.
        return None if isinstance(value, str) and not value.strip() else value

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_bucket: str = "hpo"
    s3_region: str = "us-east-1"
    # S3 credentials, standard AWS names first so a Kubernetes Secret or an AWS setup works
    # unchanged. Both keys set: those keys (with the session token, if any). Neither: the stack's
    # per-home keys (`hpo up`) when HPO_S3_ENDPOINT is that stack's, else boto3's own chain
    # (profiles, IRSA / web identity, container and instance roles, SSO). hpo.storage.credentials
    # decides; one key without the other is refused there.
    s3_access_key: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "HPO_S3_ACCESS_KEY")
    )
    # SecretStrs: repr/str of the settings, logs and error messages show "**********"; only the
    # boto3 session and a child process's environment read the value.
    s3_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "HPO_S3_SECRET_KEY")
    )
    s3_session_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SESSION_TOKEN", "HPO_S3_SESSION_TOKEN")
    )
    # A named profile of the shared config/credentials files, for the chain (keys win over it).
    s3_profile: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_PROFILE", "HPO_S3_PROFILE")
    )
    # Buckets besides s3_bucket that dataset.source may read (s3://BUCKET/...), comma-separated;
    # "*" allows any bucket the credentials reach. The worker's setting decides what it reads
    # (the client checks its own before starting a sweep, to fail early).
    dataset_buckets: str = ""

    # Where `hpo up` keeps the embedded stack's state (Temporal DB, S3 data, logs).
    home: Path = Path(".hpo")
    # Local scratch space for tokenizer files and model staging; must be writable
    # (an emptyDir on a read-only-root pod). One per user by default: the shipped code is
    # extracted and imported from here, and a shared /tmp folder would let another local
    # user choose it (hpo.storage.private_dir checks the code folder's owner and mode too).
    cache_dir: Path = Field(default_factory=lambda: Path(f"/tmp/hpo-cache-{os.getuid()}"))
    # Prometheus /metrics port of a worker process; 0 turns the endpoint off.
    metrics_port: int = 0
    # The address /metrics listens on: loopback unless asked (the chart and the image set
    # 0.0.0.0, inside the pod's own network, for Prometheus to scrape).
    metrics_host: str = "127.0.0.1"
    # How long `hpo sweep run` / `watch` keep trying to reach a Temporal server that went away
    # (a restart, a network blip) before giving up; the sweep itself never depends on them.
    reconnect_timeout_s: float = Field(default=600.0, ge=0)
    # Largest code directory (task.code) `hpo sweep run` ships to the workers; a worker
    # refuses to extract an archive whose files add up to more.
    code_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Most entries (files and directories) a worker extracts from one code archive.
    code_max_files: int = Field(default=10_000, ge=1)
    # Largest checkpoint (all its files together) a trial may save.
    checkpoint_max_bytes: int = Field(default=50 * 1024**3, ge=1)
    # The worker pool's price per accelerator-hour (training workers report it with every
    # segment; it wins over the spec's `price:`); 0 = unknown. See hpo.engine.ledger.
    price_per_hour: float = 0.0
    # The currency of price_per_hour (ISO 4217 code).
    currency: str = "USD"
    # Accelerators one training segment holds on this worker (GPUs per trial; 1 on a CPU
    # worker, whose slot counts as one accelerator): accelerator-seconds = wall seconds × this.
    accelerators_per_trial: float = Field(default=1.0, gt=0)


def dataset_bucket_allowed(settings: Settings, bucket: str) -> bool:
    """Whether dataset.source may read s3://`bucket`/...: the configured bucket, any listed in
    HPO_DATASET_BUCKETS, or any at all when that lists "*"."""
    listed = {name.strip() for name in settings.dataset_buckets.split(",") if name.strip()}
    return bucket == settings.s3_bucket or bucket in listed or "*" in listed


def dataset_bucket_refusal(settings: Settings, uri: str, bucket: str) -> str:
    """The one-paragraph message for a dataset in a bucket the allow-list does not name."""
    listed = ", ".join(name.strip() for name in settings.dataset_buckets.split(",") if name.strip())
    return (
        f"dataset.source: {uri} is in bucket {bucket!r}, which datasets may not be read from: the allowed "
        f"buckets are {settings.s3_bucket!r} (HPO_S3_BUCKET)"
        + (f" and {listed} (HPO_DATASET_BUCKETS)" if listed else "")
        + f". Copy the file into s3://{settings.s3_bucket}/, or add {bucket!r} to HPO_DATASET_BUCKETS "
        "(comma-separated) on the workers and here"
    )


def temporal_ui_url(settings: Settings) -> str | None:
    """Where the Web UI is, when known: set, or the embedded stack's default (`hpo up`)."""
    if settings.temporal_ui:
        return settings.temporal_ui.rstrip("/")
    return "http://127.0.0.1:8233" if settings.temporal_address == "127.0.0.1:7233" else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
