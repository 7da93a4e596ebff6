"""S3 credentials from each source, against the real SeaweedFS server of the embedded stack:
a profile of a shared credentials file, static keys with a session token, the stack's per-home
keys (random, private, kept across restarts, found by a client in another process), and one
key without the other."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from hpo.contracts.settings import Settings
from hpo.storage import credentials, stack_keys
from hpo.storage.s3 import ObjectStore, StorageUnavailable
from hpo.workers.stack import EmbeddedStack

pytestmark = pytest.mark.integration


def _bare_env(stack: Any, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A client's environment with no credentials of the developer's own (no keys, no ~/.aws,
    no instance metadata), pointed at the stack; `extra` adds what the test is about."""
    env = {k: v for k, v in os.environ.items() if k not in credentials.VARIABLES}
    env.update(
        HPO_TEMPORAL_ADDRESS=stack.settings.temporal_address,
        HPO_S3_ENDPOINT=stack.settings.s3_endpoint,
        HPO_S3_BUCKET=stack.settings.s3_bucket,
        HPO_HOME=str(tmp_path / "not-a-stack-home"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def _hpo_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", "check"], env=env, capture_output=True, text=True, timeout=120
    )


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in credentials.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_a_profile_of_a_shared_credentials_file(stack, tmp_path, monkeypatch):
    keys = stack.keys
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[team]\naws_access_key_id = {keys.access_key}\naws_secret_access_key = {keys.secret_key}\n"
    )
    env = _bare_env(stack, tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_PROFILE="team")

    store = ObjectStore(_settings_from(env, monkeypatch))
    key = f"credentials/{uuid.uuid4().hex}"
    store.put_bytes(key, b"from a profile")
    assert store.get_bytes(key) == b"from a profile"
    assert store.credential_source() == ("shared-credentials-file", f"{keys.access_key[:4]}****")

    checked = _hpo_check(env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"S3 credentials: shared-credentials-file, access key id {keys.access_key[:4]}****" in checked.stdout
    )
    assert keys.secret_key not in checked.stdout + checked.stderr
    assert keys.access_key not in checked.stdout + checked.stderr

    # A profile that is not there is named, before any request.
    missing = _hpo_check({**env, "AWS_PROFILE": "absent"})
    assert (
        missing.returncode == 2 and "profile 'absent'" in missing.stderr and "Traceback" not in missing.stderr
    )


def test_a_session_token_is_signed_into_every_request(stack, tmp_path, monkeypatch):
    env = _bare_env(
        stack,
        tmp_path,
        AWS_ACCESS_KEY_ID=stack.keys.access_key,
        AWS_SECRET_ACCESS_KEY=stack.keys.secret_key,
        AWS_SESSION_TOKEN="session-token-1234",
    )
    store = ObjectStore(_settings_from(env, monkeypatch))
    assert store._session.get_credentials().token == "session-token-1234"
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append({name: _text(value) for name, value in request.headers.items()})

    store._client.meta.events.register("before-send.s3", record)
    # SeaweedFS (4.48) takes a request with a security token for one of its own STS sessions
    # and refuses it (InvalidAccessKeyId) for keys of its static identity: the token is sent,
    # the server's answer is its own. Against AWS or MinIO the same token is what makes
    # temporary keys valid.
    with pytest.raises(ClientError) as refused:
        store.list_keys("credentials/")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert sent and all(headers["X-Amz-Security-Token"] == "session-token-1234" for headers in sent)
    # ... and it is signed: part of the request's SigV4 signature, not an unsigned extra.
    assert all("x-amz-security-token" in headers["Authorization"] for headers in sent)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_the_stacks_per_home_keys(stack, tmp_path, monkeypatch):
    path = stack_keys.key_file(stack.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack_keys.read(stack.home) == stack.keys and stack.keys.serves(stack.settings.s3_endpoint)
    # The keys everyone knew are refused by this stack's S3.
    known = stack.settings.model_copy(
        update={"s3_access_key": "hpo-dev", "s3_secret_key": SecretStr("hpo-dev-secret")}
    )
    with pytest.raises(StorageUnavailable, match="refused access"):
        ObjectStore(known).ensure_bucket()

    # A client in another process with only HPO_HOME and HPO_S3_ENDPOINT finds them.
    checked = _hpo_check(_bare_env(stack, tmp_path, HPO_HOME=str(stack.home)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"S3 credentials: hpo up's per-home keys, access key id {stack.keys.access_key[:4]}****"
        in checked.stdout
    )
    # ... and nothing at all, without them: one paragraph saying what to set.
    bare = _hpo_check(_bare_env(stack, tmp_path))
    assert bare.returncode == 2 and "no S3 credentials found" in bare.stderr and "AWS_PROFILE" in bare.stderr
    assert "Traceback" not in bare.stderr

    # Another home: its own keys; a restart there serves the same keys and the same data.
    home = tmp_path / "other-home"
    first = EmbeddedStack.for_home(home, Settings(), ephemeral_ports=True)
    try:
        first.start_servers()
        assert first.keys is not None and first.keys.access_key != stack.keys.access_key
        assert first.keys.secret_key != stack.keys.secret_key
        ObjectStore(first.settings).put_bytes("kept/across-restarts", b"still here")
        with pytest.raises(StorageUnavailable, match="refused access"):
            ObjectStore(
                first.settings.model_copy(update={"s3_endpoint": stack.settings.s3_endpoint})
            ).ensure_bucket()
    finally:
        first.stop()
    again = EmbeddedStack.for_home(home, Settings(), ephemeral_ports=True)
    try:
        again.start_servers()
        assert again.keys is not None
        assert (again.keys.access_key, again.keys.secret_key) == (
            first.keys.access_key,
            first.keys.secret_key,
        )
        assert stack_keys.read(home) == again.keys  # with the new endpoint recorded
        assert ObjectStore(again.settings).get_bytes("kept/across-restarts") == b"still here"
    finally:
        again.stop()


def test_one_key_without_the_other_is_one_clear_paragraph(stack, tmp_path):
    result = _hpo_check(_bare_env(stack, tmp_path, AWS_ACCESS_KEY_ID=stack.keys.access_key))
    assert result.returncode == 2
    assert "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" in result.stderr
    assert "Traceback" not in result.stderr and stack.keys.access_key not in result.stderr
