"""S3 URIs and bucket names as users write them: checked when the spec is read (pure: no
boto3, which workflows must not load)."""

from __future__ import annotations

import ipaddress
import re

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024


def bucket_name_problem(bucket: str) -> str | None:
    """Why `bucket` is not a valid S3 bucket name, or None when it is."""
    if not _BUCKET.fullmatch(bucket):
        return (
            "bucket names are 3-63 characters of lowercase letters, digits, dots and hyphens, "
            "beginning and ending with a letter or digit"
        )
    if ".." in bucket:
        return "bucket names hold no two adjacent dots"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return None
    return "bucket names are not IP addresses"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` URI; ValueError saying what is wrong otherwise.

    Parsed by hand, not with urllib: a `?` or `#` is part of an S3 key, not a query or fragment."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI; write s3://bucket/path/to/file")
    if any(ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF for char in uri):
        raise ValueError(
            f"{uri!r} holds a control character or an unpaired surrogate; write s3://bucket/path/to/file"
        )
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    problem = bucket_name_problem(bucket)
    if problem:
        raise ValueError(f"{uri!r} names bucket {bucket!r}, which is not a valid S3 bucket name: {problem}")
    if not key or key.startswith("/"):
        raise ValueError(
            f"{uri!r} names no object in bucket {bucket!r}; write s3://{bucket}/path/to/file "
            "(one / after the bucket)"
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"{uri[:80]!r}... names a key longer than S3's {MAX_KEY_BYTES} bytes")
    return bucket, key
