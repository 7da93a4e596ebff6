"""Which S3 credentials a process uses (hpo.storage.credentials) and the embedded stack's
per-home key file (hpo.storage.stack_keys): pure rules and local files, no server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from hpo.api.runner import _child_env
from hpo.contracts.settings import Settings
from hpo.storage import credentials, stack_keys
from hpo.storage.credentials import CHAIN, STACK_KEYS, STATIC_KEYS, CredentialsProblem, choose, masked
from hpo.storage.stack_keys import StackKeys
from hpo.workers.stack import EmbeddedStack

ENDPOINT = "http://127.0.0.1:8333"


@pytest.fixture(autouse=True)
def _no_caller_credentials(monkeypatch):
    for name in credentials.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HPO_S3_ENDPOINT", ENDPOINT)


def _settings(**update: object) -> Settings:
    secrets = {"s3_secret_key", "s3_session_token"}
    return Settings().model_copy(
        update={k: SecretStr(v) if k in secrets and isinstance(v, str) else v for k, v in update.items()}
    )


STACK = StackKeys("HPOSTACKKEY000000000", "stack-secret", ENDPOINT)


def test_no_keys_anywhere_is_boto3s_chain_with_the_profile():
    assert Settings().s3_access_key is None and Settings().s3_secret_key is None
    assert (choose(_settings(), None).origin, choose(_settings(), None).profile) == (CHAIN, None)
    chosen = choose(_settings(s3_profile="team"), None)
    assert (chosen.origin, chosen.profile, chosen.access_key, chosen.secret_key) == (
        CHAIN,
        "team",
        None,
        None,
    )


def test_both_keys_are_static_keys_with_the_session_token():
    chosen = choose(_settings(s3_access_key="AKIAEXAMPLE", s3_secret_key="s", s3_session_token="tok"), STACK)
    assert (chosen.origin, chosen.access_key, chosen.secret_key, chosen.session_token) == (
        STATIC_KEYS,
        "AKIAEXAMPLE",
        "s",
        "tok",
    )
    # Keys win over a profile, as in boto3.
    assert choose(_settings(s3_access_key="a", s3_secret_key="s", s3_profile="team"), None).profile is None


def test_the_stacks_keys_only_for_the_endpoint_they_belong_to():
    chosen = choose(_settings(), STACK)
    assert (chosen.origin, chosen.access_key, chosen.secret_key) == (
        STACK_KEYS,
        STACK.access_key,
        "stack-secret",
    )
    assert choose(_settings(s3_endpoint=ENDPOINT + "/"), STACK).origin == STACK_KEYS
    # Another endpoint (a cluster's, AWS) never receives the stack's keys.
    assert choose(_settings(s3_endpoint="https://s3.eu-west-1.amazonaws.com"), STACK).origin == CHAIN
    assert choose(_settings(s3_endpoint="http://127.0.0.1:9000"), STACK).origin == CHAIN


@pytest.mark.parametrize(
    ("variable", "other"),
    [
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
        ("HPO_S3_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_one_key_without_the_other_names_both(monkeypatch, variable, other):
    monkeypatch.setenv(variable, "only-this-one")
    with pytest.raises(CredentialsProblem) as raised:
        choose(Settings(), STACK)
    message = str(raised.value)
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message
    assert f"{other} is not" in message and "only-this-one" not in message


def test_a_session_token_without_keys_is_refused_and_empty_keys_are_unset(monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok")
    with pytest.raises(CredentialsProblem, match="AWS_SESSION_TOKEN .* without AWS_ACCESS_KEY_ID"):
        choose(Settings(), None)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    assert choose(Settings(), STACK).origin == STACK_KEYS


def test_settings_read_the_aws_and_hpo_names_and_hide_the_token(monkeypatch):
    monkeypatch.setenv("HPO_S3_PROFILE", "team")
    monkeypatch.setenv("HPO_S3_SESSION_TOKEN", "tok-value-1234")
    settings = Settings()
    assert settings.s3_profile == "team"
    assert "tok-value-1234" not in repr(settings) + settings.model_dump_json()
    monkeypatch.setenv("AWS_PROFILE", "aws-name-wins")
    assert Settings().s3_profile == "aws-name-wins"


def test_masked_shows_four_characters():
    assert masked("AKIAIOSFODNN7EXAMPLE") == "AKIA****"


def test_a_home_gets_private_random_keys_kept_across_starts(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    keys = stack_keys.for_start(first, ENDPOINT)
    other = stack_keys.for_start(second, ENDPOINT)
    path = stack_keys.key_file(first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.access_key != other.access_key and keys.secret_key != other.secret_key
    assert len(keys.access_key) == 20 and len(keys.secret_key) >= 40 and "hpo-dev" not in keys.access_key
    assert json.loads(path.read_text())["endpoint"] == ENDPOINT
    # A later start (ephemeral ports: another endpoint) keeps the keys, records the endpoint.
    again = stack_keys.for_start(first, "http://127.0.0.1:9999")
    assert (again.access_key, again.secret_key, again.endpoint) == (
        keys.access_key,
        keys.secret_key,
        "http://127.0.0.1:9999",
    )
    assert stack_keys.read(first) == again
    assert sorted(p.name for p in first.iterdir()) == [stack_keys.FILE_NAME]  # no temporary left


def test_a_loose_or_broken_key_file(tmp_path):
    keys = stack_keys.for_start(tmp_path, ENDPOINT)
    stack_keys.key_file(tmp_path).chmod(0o644)
    assert stack_keys.for_start(tmp_path, ENDPOINT) == keys
    assert stat.S_IMODE(stack_keys.key_file(tmp_path).stat().st_mode) == 0o600
    stack_keys.key_file(tmp_path).write_text("{not json")
    assert stack_keys.read(tmp_path) is None
    assert stack_keys.read(tmp_path / "absent") is None


def test_the_stacks_children_get_its_keys_and_none_of_the_callers(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "caller-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "caller-token")
    stack = EmbeddedStack.for_home(tmp_path / "home", Settings())
    (tmp_path / "home").mkdir()
    assert "AWS_ACCESS_KEY_ID" not in stack.env  # no keys before the servers start
    stack._take_home_keys()
    env = stack.env
    home_keys = stack_keys.read(tmp_path / "home")
    assert home_keys is not None
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        home_keys.access_key,
        home_keys.secret_key,
    )
    assert "AWS_SESSION_TOKEN" not in env
    assert stack.settings.s3_access_key == home_keys.access_key and stack.settings.s3_session_token is None


def test_hpo_runs_child_has_no_keys_its_settings_lack(monkeypatch):
    monkeypatch.setenv("HPO_S3_ACCESS_KEY", "stale")
    monkeypatch.setenv("AWS_PROFILE", "team")
    settings = Settings().model_copy(update={"s3_access_key": None})
    env = _child_env(settings)
    assert "AWS_ACCESS_KEY_ID" not in env and "HPO_S3_ACCESS_KEY" not in env
    assert "HPO_S3_PROFILE" not in env and env["AWS_PROFILE"] == "team"
    assert "None" not in env.values()
    assert Path(env["HPO_HOME"]) == Path(".hpo")
