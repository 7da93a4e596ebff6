"""The Temporal TLS / mTLS / API-key settings mapped to the SDK's arguments, and the messages
for settings that do not fit together or a connection the server refused (pure: no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.service import TLSConfig

from hpo.connections.temporal import TemporalUnavailable, temporal_security
from hpo.connections.temporal_tls import (
    TemporalSecurity,
    TemporalSecurityError,
    child_environment,
    connection_failure,
    describe,
    files_to_read,
    security,
    tls_enabled,
    without_temporal_security,
)
from hpo.contracts.settings import Settings

PEM_CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def settings(**fields: object) -> Settings:
    return Settings.model_validate({"temporal_address": "ns.acct.tmprl.cloud:7233", **fields})


def test_no_settings_is_plaintext_without_a_key() -> None:
    plain = settings()
    assert files_to_read(plain) == {}
    assert security(plain, {}).tls is False and security(plain, {}).api_key is None
    assert describe(plain) == "plaintext"


def test_tls_alone_uses_the_system_roots() -> None:
    secured = security(settings(temporal_tls=True), {})
    assert secured.tls is True and secured.api_key is None
    assert describe(settings(temporal_tls=True)) == "TLS verified with the system's root CAs"


def test_ca_server_name_and_client_pair_map_to_one_tls_config() -> None:
    s = settings(
        temporal_tls_ca="/s/ca.crt", temporal_tls_server_name="temporal.internal",
        temporal_tls_cert="/s/tls.crt", temporal_tls_key="/s/tls.key",
    )  # fmt: skip
    files = files_to_read(s)
    assert files == {
        "HPO_TEMPORAL_TLS_CA": Path("/s/ca.crt"),
        "HPO_TEMPORAL_TLS_CERT": Path("/s/tls.crt"),
        "HPO_TEMPORAL_TLS_KEY": Path("/s/tls.key"),
    }
    secured = security(
        s,
        {"HPO_TEMPORAL_TLS_CA": PEM_CERT, "HPO_TEMPORAL_TLS_CERT": PEM_CERT, "HPO_TEMPORAL_TLS_KEY": PEM_KEY},
    )
    assert secured.tls == TLSConfig(
        server_root_ca_cert=PEM_CERT,
        domain="temporal.internal",
        client_cert=PEM_CERT,
        client_private_key=PEM_KEY,
    )
    assert describe(s) == (
        "TLS verified with CA /s/ca.crt, server name temporal.internal, mTLS client certificate /s/tls.crt"
    )


def test_an_api_key_turns_tls_on_and_is_never_described() -> None:
    s = settings(temporal_api_key="sekret-key")
    assert tls_enabled(s)
    assert security(s, {}) == TemporalSecurity(tls=True, api_key="sekret-key")
    assert "sekret" not in describe(s) and describe(s).endswith("API key from HPO_TEMPORAL_API_KEY")
    assert "sekret" not in repr(s)


def test_an_api_key_file_is_read_and_stripped_of_its_newline() -> None:
    s = settings(temporal_api_key_file="/secret/api-key")
    assert files_to_read(s) == {"HPO_TEMPORAL_API_KEY_FILE": Path("/secret/api-key")}
    assert security(s, {"HPO_TEMPORAL_API_KEY_FILE": b"from-file\n"}).api_key == "from-file"
    assert describe(s).endswith("API key from /secret/api-key")


def test_tls_false_with_an_api_key_is_plaintext_with_the_key() -> None:
    # An in-cluster gateway may take the key over plaintext; the choice is the user's to make.
    secured = security(settings(temporal_tls=False, temporal_api_key="k"), {})
    assert secured.tls is False and secured.api_key == "k"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"temporal_tls_cert": "/s/tls.crt"},
            "HPO_TEMPORAL_TLS_CERT is set but HPO_TEMPORAL_TLS_KEY is not: mTLS needs the client certificate "
            "and its private key together",
        ),
        ({"temporal_tls_key": "/s/tls.key"}, "HPO_TEMPORAL_TLS_KEY is set but HPO_TEMPORAL_TLS_CERT is not"),
        (
            {"temporal_api_key": "k", "temporal_api_key_file": "/k"},
            "both HPO_TEMPORAL_API_KEY and HPO_TEMPORAL_API_KEY_FILE are set: set one",
        ),
        (
            {"temporal_tls": False, "temporal_tls_ca": "/s/ca.crt"},
            "HPO_TEMPORAL_TLS=false but HPO_TEMPORAL_TLS_CA is set",
        ),
    ],
)
def test_settings_that_do_not_fit_together_are_refused_by_name(
    fields: dict[str, object], expected: str
) -> None:
    with pytest.raises(TemporalSecurityError) as refused:
        files_to_read(settings(**fields))
    assert str(refused.value).startswith(expected)


def test_a_file_that_is_not_pem_is_named_with_its_path() -> None:
    s = settings(temporal_tls_ca="/s/ca.crt")
    with pytest.raises(TemporalSecurityError, match=r"HPO_TEMPORAL_TLS_CA=/s/ca.crt is not a PEM file"):
        security(s, {"HPO_TEMPORAL_TLS_CA": b"\x30\x82 DER bytes"})
    with pytest.raises(TemporalSecurityError, match=r"HPO_TEMPORAL_API_KEY_FILE=/k is empty"):
        security(settings(temporal_api_key_file="/k"), {"HPO_TEMPORAL_API_KEY_FILE": b"\n"})


def test_a_missing_file_names_the_setting_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "ca.crt"
    with pytest.raises(TemporalUnavailable) as refused:
        temporal_security(settings(temporal_tls_ca=str(missing)))
    message = str(refused.value)
    assert message.startswith(f"HPO_TEMPORAL_TLS_CA={missing} cannot be read (No such file or directory)")
    assert "\n" not in message


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HPO_TEMPORAL_TLS",
        "HPO_TEMPORAL_TLS_CA",
        "HPO_TEMPORAL_API_KEY",
        "HPO_TEMPORAL_API_KEY_FILE",
    ):
        monkeypatch.setenv(name, "")
    s = Settings()
    assert (s.temporal_tls, s.temporal_tls_ca, s.temporal_api_key, s.temporal_api_key_file) == (None,) * 4


SDK_ERRORS = {
    "wrong name": 'Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(NotValidForNameContext { expected: DnsName("wrong.example"), presented: ["DnsName(\\"localhost\\")"] }) }))',
    "unknown CA": "Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }))",
    "no client cert": 'Failed client connect: `get_system_info` call error after connection: Status { code: Unknown, message: "transport error", source: Some(tonic::transport::Error(Transport, hyper::Error(Io, Custom { kind: UnexpectedEof, error: "peer closed connection without sending TLS close_notify" }))) }',
    "broken pipe": 'Failed client connect: `get_system_info` call error after connection: Status { code: Unknown, message: "transport error", source: Some(tonic::transport::Error(Transport, hyper::Error(Io, Custom { kind: BrokenPipe, error: "stream closed because of a broken pipe" }))) }',
    "closed": 'Failed client connect: `get_system_info` call error after connection: Status { code: Cancelled, message: "operation was canceled", source: Some(tonic::transport::Error(Transport, hyper::Error(Canceled, "connection closed"))) }',
    "unauthenticated": 'Failed client connect: `get_system_info` call error after connection: Status { code: Unauthenticated, message: "Request unauthorized.", metadata: MetadataMap { headers: {} }, source: None }',
    "plaintext server": "Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidMessage(InvalidContentType) }))",
    "key mismatch": "Failed client connect: Server connection error: tonic::transport::Error(Transport, InconsistentKeys(KeyMismatch))",
    "refused": 'Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:1, Os { code: 111, kind: ConnectionRefused })))',
}


@pytest.mark.parametrize(
    ("case", "fields", "expected"),
    [
        ("wrong name", {"temporal_tls": True}, "the server's certificate is not valid for the name 'wrong.example'"),
        ("unknown CA", {"temporal_tls_ca": "/s/ca.crt"}, "certificate verify failed: the server's certificate is not signed by the CA in HPO_TEMPORAL_TLS_CA=/s/ca.crt; set HPO_TEMPORAL_TLS_CA"),
        ("unknown CA", {"temporal_tls": True}, "not signed by the system's root CAs"),
        ("no client cert", {"temporal_tls": True}, "it requires a client certificate (mTLS); set HPO_TEMPORAL_TLS_CERT and HPO_TEMPORAL_TLS_KEY"),
        ("no client cert", {"temporal_tls_cert": "/c", "temporal_tls_key": "/k"}, "did not accept the client certificate HPO_TEMPORAL_TLS_CERT=/c"),
        ("broken pipe", {"temporal_tls_cert": "/c", "temporal_tls_key": "/k"}, "did not accept the client certificate HPO_TEMPORAL_TLS_CERT=/c"),
        ("closed", {"temporal_tls": True}, "it requires a client certificate (mTLS)"),
        ("closed", {}, "closed the connection: it probably requires TLS"),
        ("broken pipe", {}, "closed the connection: it probably requires TLS; set HPO_TEMPORAL_TLS=true"),
        ("unauthenticated", {"temporal_api_key": "k"}, "refused the API key (HPO_TEMPORAL_API_KEY): it is wrong, expired or has no access to namespace 'default'"),
        ("unauthenticated", {"temporal_tls": True}, "requires authentication: set HPO_TEMPORAL_API_KEY_FILE"),
        ("plaintext server", {"temporal_tls": True}, "does not speak TLS"),
        ("key mismatch", {"temporal_tls_cert": "/c", "temporal_tls_key": "/k"}, "HPO_TEMPORAL_TLS_KEY is not the private key of the certificate in HPO_TEMPORAL_TLS_CERT"),
        ("refused", {}, "is unreachable (Failed client connect: "),
    ],
)  # fmt: skip
def test_sdk_transport_errors_become_one_line_with_the_cause(
    case: str, fields: dict[str, object], expected: str
) -> None:
    message = connection_failure(settings(**fields), SDK_ERRORS[case])
    assert message.startswith("Temporal at ns.acct.tmprl.cloud:7233")
    assert expected in message and "\n" not in message


def test_a_child_gets_the_callers_temporal_security_and_none_of_the_environments() -> None:
    inherited = {"PATH": "/bin", "HPO_TEMPORAL_TLS_CA": "/elsewhere/ca.crt", "HPO_TEMPORAL_API_KEY": "old"}
    caller = settings(temporal_tls_ca="/s/ca.crt", temporal_api_key=SecretStr("new"), temporal_tls=True)
    assert child_environment(inherited, caller) == {
        "PATH": "/bin",
        "HPO_TEMPORAL_TLS": "true",
        "HPO_TEMPORAL_TLS_CA": "/s/ca.crt",
        "HPO_TEMPORAL_API_KEY": "new",
    }
    assert child_environment(inherited, without_temporal_security(caller)) == {"PATH": "/bin"}


def test_hpo_runs_child_reaches_temporal_as_its_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.api.runner import _child_env

    caller = settings(temporal_tls_ca="/s/ca.crt", temporal_api_key="the-key")
    monkeypatch.setenv("HPO_TEMPORAL_TLS_CERT", "/environment/tls.crt")  # not the caller's settings
    env = _child_env(caller)
    assert env["HPO_TEMPORAL_TLS_CA"] == "/s/ca.crt" and env["HPO_TEMPORAL_API_KEY"] == "the-key"
    assert "HPO_TEMPORAL_TLS_CERT" not in env and "HPO_TEMPORAL_TLS" not in env
    monkeypatch.delenv("HPO_TEMPORAL_TLS_CERT")
    monkeypatch.setattr("os.environ", env)
    child = Settings()
    assert child.temporal_tls_ca == Path("/s/ca.crt") and child.temporal_api_key == caller.temporal_api_key
