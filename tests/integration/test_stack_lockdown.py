"""The embedded stack's S3 server on a shared machine: its S3 API answers the stack's keys,
and its other doors (the filer's and volume server's HTTP APIs, every gRPC endpoint, the
admin UI) refuse a local user who has none of the stack's secrets."""

from __future__ import annotations

import socket
import ssl
import stat
import urllib.error
import urllib.request

import pytest

from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _tls_refused_without_client_certificate(port: int, ca: str) -> str:
    """Connect to a gRPC port as an outsider would (TLS, no client certificate): the server's
    refusal, as text; '' if it let the connection through."""
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                tls.recv(1)  # TLS 1.3: the server's verdict on our (missing) certificate arrives here
        except (ssl.SSLError, ConnectionResetError) as error:
            return str(error)
    return ""


def test_only_the_s3_api_with_the_stacks_keys_reaches_the_data(stack):
    store = ObjectStore(stack.settings)
    store.put_bytes("lockdown/secret.txt", b"the team's data")
    assert store.get_bytes("lockdown/secret.txt") == b"the team's data"
    ports = stack.s3_internal_ports
    bucket = stack.settings.s3_bucket

    # The filer's HTTP API would hand out every object; it wants a JWT now.
    assert _http_status(f"http://127.0.0.1:{ports['filer.port']}/buckets/{bucket}/lockdown/secret.txt") == 401
    assert _http_status(f"http://127.0.0.1:{ports['filer.port']}/buckets/{bucket}/") == 401
    # The admin UI asks for the password drawn at start (a login page, not the console).
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin.port']}/", timeout=5) as page:
        assert b"Login" in page.read(4096)

    # gRPC (what `weed shell` and the S3 gateway use): a client certificate from the home's CA.
    material = stack.home / "s3-grpc"
    assert stat.S_IMODE(material.stat().st_mode) == 0o700
    assert stat.S_IMODE((material / "tls.key").stat().st_mode) == 0o600
    for name in ("filer.port.grpc", "master.port.grpc", "volume.port.grpc"):
        refusal = _tls_refused_without_client_certificate(ports[name], str(material / "ca.crt"))
        assert "CERTIFICATE_REQUIRED" in refusal.upper().replace(" ", "_"), (name, refusal)


def test_the_s3_server_sends_no_telemetry_and_allows_no_foreign_origin(stack):
    command = " ".join(stack.processes["s3"].process.args)
    assert "-master.telemetry=false" in command
    origin = stack.settings.s3_endpoint
    request = urllib.request.Request(
        f"{origin}/{stack.settings.s3_bucket}/lockdown/secret.txt",
        method="OPTIONS",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            allowed = response.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as error:
        allowed = error.headers.get("Access-Control-Allow-Origin")
    assert allowed in (None, "", origin), allowed
