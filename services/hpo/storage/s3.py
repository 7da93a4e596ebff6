"""A small object-store façade over boto3: bytes, files, listing, existence."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from hpo.contracts.settings import Settings
from hpo.storage import credentials, stack_keys


class StorageUnavailable(RuntimeError):
    """The S3 endpoint cannot be reached or refuses our credentials."""


class StorageUnreachable(StorageUnavailable):
    """The S3 endpoint does not answer at all (not started yet, wrong address)."""


class CredentialsError(StorageUnavailable):
    """No S3 credentials, or settings for them that contradict each other."""


# What S3 servers (AWS, MinIO, SeaweedFS) answer for a missing bucket or key.
_NOT_FOUND = ("404", "NoSuchBucket", "NoSuchKey", "NotFound")


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _answers(endpoint: str) -> bool:
    """Whether anything accepts a TCP connection at `endpoint`'s host and port."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", port), timeout=3).close()
        return True
    except OSError:
        return False


def create_bucket_options(region: str) -> dict[str, Any]:
    """CreateBucket's arguments for `region`: AWS refuses a bucket outside us-east-1 without a
    LocationConstraint naming the client's region (and refuses one naming us-east-1)."""
    if not region or region == "us-east-1":
        return {}
    return {"CreateBucketConfiguration": {"LocationConstraint": region}}


# Every session reads botocore's service models through this one loader, which keeps what it
# parsed: a session of its own would parse S3's model again (0.40 s per ObjectStore, measured;
# 0.02 s with the loader shared).
_LOADER = botocore.loaders.create_loader()


def s3_session(settings: Settings) -> tuple[boto3.Session, credentials.CredentialChoice]:
    """The one place a boto3 session is built, with the credentials hpo.storage.credentials
    chooses; without keys it is boto3's own default chain (a profile at most)."""
    try:
        choice = credentials.choose(settings, stack_keys.read(settings.home))
    except credentials.CredentialsProblem as error:
        raise CredentialsError(str(error)) from None
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    session = boto3.Session(
        botocore_session=core,
        aws_access_key_id=choice.access_key,
        aws_secret_access_key=choice.secret_key,
        aws_session_token=choice.session_token,
        profile_name=choice.profile,
        region_name=settings.s3_region,
    )
    # A profile that is not there (named here, or by AWS_PROFILE beside static keys) would
    # fail later inside botocore, as a bug of ours; said here instead.
    if session.profile_name != "default" and session.profile_name not in session.available_profiles:
        raise _no_such_profile(session.profile_name)
    return session, choice


def _no_such_profile(name: str) -> CredentialsError:
    return CredentialsError(
        f"S3 credentials: AWS_PROFILE / HPO_S3_PROFILE names profile {name!r}, which neither the shared "
        "credentials file nor the config file has (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE; "
        "~/.aws/ by default); add it, fix the name or unset it"
    )


class ObjectStore:
    def __init__(self, settings: Settings, bucket: str | None = None) -> None:
        self.settings = settings
        self.endpoint = settings.s3_endpoint
        self.bucket = bucket or settings.s3_bucket
        self._session, self._credentials = s3_session(settings)
        try:
            self._client = self._session.client(
                "s3",
                endpoint_url=settings.s3_endpoint,
                config=Config(
                    retries={"max_attempts": 5, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=120,
                    s3={"addressing_style": "path"},
                ),
            )
        except ProfileNotFound as error:  # an empty AWS_PROFILE, which boto3 reads as a name
            raise _no_such_profile(str(error.kwargs.get("profile", ""))) from None

    def credential_source(self) -> tuple[str, str]:
        """Where this store's credentials come from (botocore's method for the chain: "env",
        "shared-credentials-file", "assume-role-with-web-identity", "iam-role", ...) and the
        access key id masked; never the secret."""
        try:
            found = self._session.get_credentials()
            if found is None:
                raise CredentialsError(credentials.NO_CREDENTIALS)
            access_key = found.get_frozen_credentials().access_key  # a role's: fetched here
        except BotoCoreError as error:  # a role that cannot be assumed, an unreadable token file
            raise CredentialsError(
                f"S3 credentials: {self._whose_keys()} could not be loaded: {error}"
            ) from None
        origin = self._credentials.origin
        return (found.method if origin == credentials.CHAIN else origin), credentials.masked(access_key)

    def _whose_keys(self) -> str:
        """The credentials a refusal was for, so the user knows which setting to fix."""
        origin = self._credentials.origin
        if origin == credentials.STATIC_KEYS:
            return "the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        if origin == credentials.STACK_KEYS:
            return f"{origin} in {stack_keys.key_file(self.settings.home)}"
        profile = f" (profile {self._credentials.profile})" if self._credentials.profile else ""
        return f"the credentials of {origin}{profile}"

    def ensure_bucket(self) -> bool:
        """Create the bucket if missing (True when this call created it); raise StorageUnavailable
        with a clear reason otherwise. The one bucket-creation path: `hpo up`, the CLI's preflight
        and the chart's init container (python -m hpo.storage.ensure_bucket) all come here."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as error:
            code = _error_code(error)
            if code not in _NOT_FOUND:
                raise StorageUnavailable(
                    f"S3 at {self.endpoint} refused access to bucket {self.bucket!r} ({code}) for "
                    f"{self._whose_keys()}; check them (`hpo check` says where they come from)"
                ) from None
        except NoCredentialsError:
            # boto3 signs before it connects: an endpoint that is not even there (`hpo up` not
            # started) is the first thing to fix, and says so as it did with keys.
            if not _answers(self.endpoint):
                raise StorageUnreachable(
                    f"S3 endpoint {self.endpoint} is unreachable; start it (`hpo up`) or set HPO_S3_ENDPOINT"
                ) from None
            raise CredentialsError(credentials.NO_CREDENTIALS) from None
        except (EndpointConnectionError, BotoCoreError) as error:
            raise StorageUnreachable(
                f"S3 endpoint {self.endpoint} is unreachable ({error}); start it (`hpo up`) "
                "or set HPO_S3_ENDPOINT"
            ) from None
        try:
            self._client.create_bucket(Bucket=self.bucket, **create_bucket_options(self.settings.s3_region))
        except ClientError as error:
            if _error_code(error) == "BucketAlreadyOwnedByYou":
                return False  # created by another process between our HEAD and CREATE
            message = error.response.get("Error", {}).get("Message", "")
            raise StorageUnavailable(
                f"S3 at {self.endpoint} has no bucket {self.bucket!r} and could not create it "
                f"({_error_code(error)}: {message}); create it or set HPO_S3_BUCKET"
            ) from None
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_bytes(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value, sort_keys=True, indent=1).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def upload_file(self, path: Path, key: str) -> None:
        # upload_file switches to multipart for large checkpoints on its own.
        self._client.upload_file(str(path), self.bucket, key)

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._client.download_file(self.bucket, key, str(path))

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
            return True
        except NoCredentialsError:
            raise CredentialsError(credentials.NO_CREDENTIALS) from None
        except ClientError as error:
            code = _error_code(error)
            if code in _NOT_FOUND:
                return False
            raise StorageUnavailable(
                f"S3 at {self.endpoint} refused to say whether s3://{self.bucket}/{key} exists ({code}); "
                "check the credentials' access to that bucket"
            ) from None

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self.list_sizes(prefix))

    def list_sizes(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix`, with its size in bytes."""
        sizes: dict[str, int] = {}
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            sizes.update((item["Key"], item["Size"]) for item in page.get("Contents", []))
        return sizes

    def list_prefixes(self, prefix: str) -> list[str]:
        """The "folders" right under `prefix` (S3's common prefixes for delimiter "/"), so a
        listing grows with them, not with every object below them."""
        found: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            found.update(item["Prefix"] for item in page.get("CommonPrefixes", []))
        return sorted(found)

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start : start + 1000]]
            if chunk:
                self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})


# S3's bucket naming rules (general purpose buckets): 3-63 characters of lowercase letters,
# digits, dots and hyphens, beginning and ending with a letter or digit, no two adjacent dots,
# not formatted as an IP address.
