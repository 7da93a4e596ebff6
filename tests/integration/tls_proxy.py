"""A real TLS endpoint for Temporal in tests: a TLS-terminating gRPC proxy in front of the
plaintext dev server (`temporal server start-dev` has no TLS), and the certificates for it.

The proxy forwards every call's raw bytes (no protobuf decoding: identity serializers) and
metadata to the dev server, and the answer's bytes, status and trailing metadata back (the
SDK reads typed errors such as "already started" from `grpc-status-details-bin`). Every RPC
the Temporal SDK makes, the workers' long polls included, is unary-unary; a streaming call
would fail here with UNIMPLEMENTED, and `methods` records what was asked, so a test sees it.

It can require a client certificate (mTLS) and/or `authorization: Bearer <key>` (Temporal
Cloud's API keys), answering UNAUTHENTICATED otherwise, as Temporal Cloud does.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A name only the proxy's certificate carries (besides 127.0.0.1 and localhost), for
# HPO_TEMPORAL_TLS_SERVER_NAME.
SERVER_NAME = "temporal.hpo.test"
# The SDK's payloads and histories are well under this; gRPC's default (4 MiB) is not a limit
# a real frontend has.
MAX_MESSAGE = 64 * 1024 * 1024
# Headers gRPC sets itself on the upstream call; forwarding them is refused or wrong.
_OWN_HEADERS = ("grpc-", "user-agent", "content-type", "te", ":")


@dataclass(frozen=True)
class Pki:
    """PEM files in a directory: a CA, a server certificate it signed, a client certificate
    it signed, and a second CA that signed nothing here (the "wrong CA")."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _ca("hpo test CA")
    other_key, other = _ca("some other CA")
    server_key, server = _leaf(
        ca_key,
        ca,
        "temporal proxy",
        [
            x509.DNSName("localhost"),
            x509.DNSName(SERVER_NAME),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ],
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key, client = _leaf(
        ca_key, ca, "hpo worker", [x509.DNSName("hpo-worker")], ExtendedKeyUsageOID.CLIENT_AUTH
    )
    files = {
        "ca": _pem(ca),
        "server_cert": _pem(server),
        "server_key": _key_pem(server_key),
        "client_cert": _pem(client),
        "client_key": _key_pem(client_key),
        "other_ca": _pem(other),
    }
    for name, data in files.items():
        (directory / f"{name}.pem").write_bytes(data)
    del other_key
    return Pki(**{name: directory / f"{name}.pem" for name in files})


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        _builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    name: str,
    names: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        _builder(subject, ca.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class _Forwarder(grpc.GenericRpcHandler):
    upstream: grpc.Channel
    api_key: str | None
    methods: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        with self.lock:
            self.methods.add(method)
        # No deserializer: the handler gets the request's bytes and returns the answer's.
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self._forward(method, request, context)
        )

    def _forward(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = [(k, v) for k, v in context.invocation_metadata() if not k.startswith(_OWN_HEADERS)]
        if self.api_key is not None:
            given = dict(metadata).get("authorization")
            if given != f"Bearer {self.api_key}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "Request unauthorized.")
            metadata = [(k, v) for k, v in metadata if k != "authorization"]
        call = self.upstream.unary_unary(method)
        try:
            response, _ = call.with_call(request, metadata=metadata, timeout=context.time_remaining())
            return response
        except grpc.RpcError as error:
            context.set_trailing_metadata(_forwardable(error.trailing_metadata()))
            context.abort(error.code(), error.details() or "")
        raise AssertionError("unreachable: abort raises")


def _forwardable(metadata: Any) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in (metadata or ())
        if k == "grpc-status-details-bin" or not k.startswith(_OWN_HEADERS)
    ]


@dataclass
class TlsProxy:
    address: str
    handler: _Forwarder

    @property
    def methods(self) -> set[str]:
        with self.handler.lock:
            return set(self.handler.methods)


@contextmanager
def tls_proxy(
    upstream: str, pki: Pki, *, require_client_cert: bool = False, api_key: str | None = None
) -> Iterator[TlsProxy]:
    """A TLS endpoint on 127.0.0.1 (a free port) that forwards to the plaintext `upstream`."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
    ]
    channel = grpc.insecure_channel(upstream, options=options)
    handler = _Forwarder(channel, api_key)
    # Each worker holds several long polls (up to a minute each) open at once: threads to spare.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=128), handlers=[handler], options=options)
    credentials = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca.read_bytes() if require_client_cert else None,
        require_client_auth=require_client_cert,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield TlsProxy(f"127.0.0.1:{port}", handler)
    finally:
        server.stop(grace=None)
        channel.close()
