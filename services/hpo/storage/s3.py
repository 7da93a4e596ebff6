"""A small object-store façade over boto3: bytes, files, listing, existence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from hpo.contracts.settings import Settings


class StorageUnavailable(RuntimeError):
    """The S3 endpoint cannot be reached or refuses our credentials."""


class StorageUnreachable(StorageUnavailable):
    """The S3 endpoint does not answer at all (not started yet, wrong address)."""


# What S3 servers (AWS, MinIO, SeaweedFS) answer for a missing bucket or key.
_NOT_FOUND = ("404", "NoSuchBucket", "NoSuchKey", "NotFound")


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def create_bucket_options(region: str) -> dict[str, Any]:
    """CreateBucket's arguments for `region`: AWS refuses a bucket outside us-east-1 without a
    LocationConstraint naming the client's region (and refuses one naming us-east-1)."""
    if not region or region == "us-east-1":
        return {}
    return {"CreateBucketConfiguration": {"LocationConstraint": region}}


class ObjectStore:
    def __init__(self, settings: Settings, bucket: str | None = None) -> None:
        self.settings = settings
        self.endpoint = settings.s3_endpoint
        self.bucket = bucket or settings.s3_bucket
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
            region_name=settings.s3_region,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=120,
                s3={"addressing_style": "path"},
            ),
        )

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
                    f"S3 at {self.endpoint} refused access to bucket {self.bucket!r} ({code}); "
                    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
                ) from None
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
