"""The embedded stack's S3 keys: random per home, kept in `<home>/s3-credentials.json`.

`weed mini` takes its one S3 identity from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its
environment at every start (it does not keep it in its data directory, and without them it
accepts any key at all), so the stack must pass keys every time. Random keys per home mean no
two stacks share a password that everyone knows; keeping them in the home lets a client in
another terminal (same HPO_HOME) find them, and a restart serves the same keys again. The
stored objects do not belong to an identity, so they stay readable whatever the keys.
"""

from __future__ import annotations

import json
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from hpo.storage.private_dir import write_private_file

FILE_NAME = "s3-credentials.json"
_VERSION = 1


@dataclass(frozen=True)
class StackKeys:
    access_key: str
    secret_key: str
    # The endpoint the stack served these keys on, last time it started: a client uses them only
    # for that endpoint, never sends them anywhere else.
    endpoint: str

    def serves(self, endpoint: str) -> bool:
        return self.endpoint.rstrip("/") == endpoint.rstrip("/")


def key_file(home: Path) -> Path:
    return home / FILE_NAME


def read(home: Path) -> StackKeys | None:
    """The keys of the stack at `home`, or None when it never started there (or the file is not
    one of ours): a client then falls back to boto3's chain, which says what is missing."""
    try:
        data = json.loads(key_file(home).read_text())
        return StackKeys(str(data["access_key_id"]), str(data["secret_access_key"]), str(data["endpoint"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def new_keys(endpoint: str) -> StackKeys:
    # An AWS-shaped id (20 upper-case characters) and a 40-character secret, both from `secrets`.
    return StackKeys("HPO" + secrets.token_hex(9).upper()[:17], secrets.token_urlsafe(30), endpoint)


def for_start(home: Path, endpoint: str) -> StackKeys:
    """The keys a stack starting at `home` on `endpoint` serves: the home's (created on its first
    start), with the endpoint brought up to date (ephemeral ports change it on every start)."""
    found = read(home)
    keys = new_keys(endpoint) if found is None else StackKeys(found.access_key, found.secret_key, endpoint)
    if keys != found:
        _write_private(key_file(home), keys)
    elif stat.S_IMODE(key_file(home).stat().st_mode) & 0o077:
        key_file(home).chmod(0o600)
    return keys


def _write_private(path: Path, keys: StackKeys) -> None:
    body = {
        "version": _VERSION,
        "endpoint": keys.endpoint,
        "access_key_id": keys.access_key,
        "secret_access_key": keys.secret_key,
    }
    write_private_file(path, json.dumps(body, indent=1).encode())
