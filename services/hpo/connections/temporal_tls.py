"""How hpo's clients prove who they are to Temporal and check who answers: TLS with a CA,
mTLS with a client certificate, Temporal Cloud's API keys. Pure: settings and the bytes of
the files they name in, the SDK's TLSConfig and API key out (connect() reads the files).

Every file is a path, so a Kubernetes Secret mounted as files works unchanged; an API key
can be a file too (HPO_TEMPORAL_API_KEY_FILE), which keeps it out of the environment of the
processes a worker starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: hpo.run's script must not load the SDK's bridge
    from temporalio.service import TLSConfig

from hpo.contracts.settings import Settings

CA = "HPO_TEMPORAL_TLS_CA"
CERT = "HPO_TEMPORAL_TLS_CERT"
KEY = "HPO_TEMPORAL_TLS_KEY"
API_KEY = "HPO_TEMPORAL_API_KEY"
API_KEY_FILE = "HPO_TEMPORAL_API_KEY_FILE"
TLS = "HPO_TEMPORAL_TLS"
SERVER_NAME = "HPO_TEMPORAL_TLS_SERVER_NAME"
# Every variable of this module: a child process gets its caller's values of these, or none.
VARIABLES = (TLS, CA, SERVER_NAME, CERT, KEY, API_KEY, API_KEY_FILE)

# What each file must hold: PEM, which the SDK needs (it ignores a CA bundle it cannot
# parse and then fails later as if the server were untrusted, which misleads).
_PEM_MARKERS = {
    CA: b"-----BEGIN CERTIFICATE-----",
    CERT: b"-----BEGIN CERTIFICATE-----",
    KEY: b"PRIVATE KEY-----",
}


class TemporalSecurityError(ValueError):
    """The Temporal TLS / API-key settings contradict each other or name an unusable file."""


@dataclass(frozen=True)
class TemporalSecurity:
    """What Client.connect gets: `tls` False (plaintext), True (system roots) or a TLSConfig."""

    tls: TLSConfig | bool
    api_key: str | None


def files_to_read(settings: Settings) -> dict[str, Path]:
    """The files the settings name, by variable, after checking that they fit together."""
    files = {
        name: path
        for name, path in (
            (CA, settings.temporal_tls_ca),
            (CERT, settings.temporal_tls_cert),
            (KEY, settings.temporal_tls_key),
            (API_KEY_FILE, settings.temporal_api_key_file),
        )
        if path is not None
    }
    if (CERT in files) != (KEY in files):
        given, missing = (CERT, KEY) if CERT in files else (KEY, CERT)
        raise TemporalSecurityError(
            f"{given} is set but {missing} is not: mTLS needs the client certificate and its private key "
            f"together; set {missing} too (tls.crt and tls.key of the same Secret), or unset {given}"
        )
    if API_KEY_FILE in files and settings.temporal_api_key is not None:
        raise TemporalSecurityError(
            f"both {API_KEY} and {API_KEY_FILE} are set: set one (the file, for a mounted Secret)"
        )
    if settings.temporal_tls is False and (CA in files or CERT in files):
        named = " and ".join(name for name in (CA, CERT) if name in files)
        raise TemporalSecurityError(
            f"{TLS}=false but {named} is set: a CA or client certificate is only used over TLS; "
            f"unset {TLS} (TLS turns on by itself) or unset {named}"
        )
    return files


def security(settings: Settings, contents: Mapping[str, bytes]) -> TemporalSecurity:
    """The SDK's arguments from the settings and the bytes of `files_to_read(settings)`."""
    files = files_to_read(settings)
    for name, marker in _PEM_MARKERS.items():
        if name in files and marker not in contents[name]:
            raise TemporalSecurityError(
                f"{name}={files[name]} is not a PEM file (no {marker.decode().strip('-')} block): "
                f"point {name} at the PEM {'private key' if name == KEY else 'certificate'}"
                " (the Secret's ca.crt, tls.crt or tls.key)"
            )
    api_key = _api_key(settings, files, contents)
    if not tls_enabled(settings):
        return TemporalSecurity(tls=False, api_key=api_key)
    from temporalio.service import TLSConfig

    config = TLSConfig(
        server_root_ca_cert=contents.get(CA),
        domain=settings.temporal_tls_server_name or None,
        client_cert=contents.get(CERT),
        client_private_key=contents.get(KEY),
    )
    return TemporalSecurity(tls=config if config != TLSConfig() else True, api_key=api_key)


def _api_key(settings: Settings, files: Mapping[str, Path], contents: Mapping[str, bytes]) -> str | None:
    if API_KEY_FILE in files:
        # A mounted Secret's file usually ends in a newline; the key never does.
        key = contents[API_KEY_FILE].decode("utf-8", errors="replace").strip()
        if not key:
            raise TemporalSecurityError(
                f"{API_KEY_FILE}={files[API_KEY_FILE]} is empty: it must hold the API key"
            )
        return key
    if settings.temporal_api_key is not None:
        return settings.temporal_api_key.get_secret_value().strip() or None
    return None


def tls_enabled(settings: Settings) -> bool:
    """HPO_TEMPORAL_TLS when set; otherwise on as soon as a TLS file or an API key is given."""
    if settings.temporal_tls is not None:
        return settings.temporal_tls
    return any(
        value is not None
        for value in (
            settings.temporal_tls_ca,
            settings.temporal_tls_cert,
            settings.temporal_api_key,
            settings.temporal_api_key_file,
        )
    ) or bool(settings.temporal_tls_server_name)


def describe(settings: Settings) -> str:
    """How the connection is secured, for `hpo check`; never the key itself."""
    if not tls_enabled(settings):
        parts = ["plaintext"]
    else:
        ca = f"CA {settings.temporal_tls_ca}" if settings.temporal_tls_ca else "the system's root CAs"
        name = (
            f", server name {settings.temporal_tls_server_name}" if settings.temporal_tls_server_name else ""
        )
        parts = [f"TLS verified with {ca}{name}"]
        if settings.temporal_tls_cert:
            parts.append(f"mTLS client certificate {settings.temporal_tls_cert}")
    if settings.temporal_api_key_file:
        parts.append(f"API key from {settings.temporal_api_key_file}")
    elif settings.temporal_api_key is not None:
        parts.append(f"API key from {API_KEY}")
    return ", ".join(parts)


def connection_failure(settings: Settings, error_text: str) -> str:
    """One line for a failed connect: the address, the likely cause read from the SDK's
    transport error (rustls / tonic wording), and what to set."""
    where = f"Temporal at {settings.temporal_address}"
    tls = tls_enabled(settings)
    trusted = (
        f"the CA in {CA}={settings.temporal_tls_ca}" if settings.temporal_tls_ca else "the system's root CAs"
    )
    name = re.search(r'NotValidForName\w*\s*\{\s*expected:\s*DnsName\("([^"]+)"\)', error_text)
    if "NotValidForName" in error_text:
        expected = name.group(1) if name else settings.temporal_tls_server_name or settings.temporal_address
        return (
            f"{where}: the server's certificate is not valid for the name {expected!r} (certificate verify "
            f"failed); set {SERVER_NAME} to a name the certificate carries, or fix the address"
        )
    if (
        "UnknownIssuer" in error_text
        or "BadSignature" in error_text
        or "certificate verify failed" in error_text
    ):
        return (
            f"{where}: certificate verify failed: the server's certificate is not signed by {trusted}; "
            f"set {CA} to the PEM bundle of the CA that signed it (ca.crt)"
        )
    if "Expired" in error_text or "NotValidYet" in error_text:
        return f"{where}: certificate verify failed: the server's certificate is expired or not yet valid"
    if "InconsistentKeys" in error_text or "KeyMismatch" in error_text:
        return f"{where}: {KEY} is not the private key of the certificate in {CERT}; set the pair from one Secret"
    if "PrivateKeyParseError" in error_text or "InvalidPrivateKey" in error_text:
        return f"{where}: {KEY}={settings.temporal_tls_key} holds no private key the TLS library can read (PEM, PKCS#8 or RSA)"
    if "InvalidContentType" in error_text or "CorruptMessage" in error_text or "WrongVersion" in error_text:
        return (
            f"{where} does not speak TLS (its answer is not a TLS handshake); unset the {TLS}* and "
            f"{API_KEY}* settings for a plaintext server, or fix the address"
        )
    if "Unauthenticated" in error_text or "PermissionDenied" in error_text:
        if settings.temporal_api_key is not None or settings.temporal_api_key_file is not None:
            return (
                f"{where} refused the API key ({'from ' + str(settings.temporal_api_key_file) if settings.temporal_api_key_file else API_KEY}): "
                f"it is wrong, expired or has no access to namespace {settings.temporal_namespace!r}; set a valid key"
            )
        return (
            f"{where} requires authentication: set {API_KEY_FILE} (or {API_KEY}) to an API key, or "
            f"{CERT} and {KEY} to a client certificate"
        )
    # TLS 1.3 servers refuse a client certificate after the handshake: the client then sees the
    # connection end (an EOF, a broken pipe or reset if it was writing, "connection closed" if
    # it was waiting for an answer), depending on timing.
    lowered = error_text.lower()
    closed = any(
        sign in lowered
        for sign in (
            "unexpectedeof",
            "close_notify",
            "certificaterequired",
            "broken pipe",
            "connection reset",
            "connection closed",
        )
    )
    if tls and (closed or "BadCertificate" in error_text or "handshake" in error_text.lower()):
        if settings.temporal_tls_cert:
            return (
                f"{where} closed the TLS connection: it did not accept the client certificate "
                f"{CERT}={settings.temporal_tls_cert} (not signed by the CA it trusts, or not a client certificate)"
            )
        return (
            f"{where} closed the TLS connection: it requires a client certificate (mTLS); set {CERT} "
            f"and {KEY} (tls.crt and tls.key) to a certificate signed by the CA it trusts"
        )
    if not tls and closed:
        return (
            f"{where} closed the connection: it probably requires TLS; set {TLS}=true (and {CA} "
            f"for a private CA)"
        )
    first = error_text.splitlines()[0] if error_text else "no answer"
    return f"{where} is unreachable ({first}); start the embedded stack with `hpo up` or set HPO_TEMPORAL_ADDRESS"


def child_environment(env: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """`env` with this module's variables set from `settings` alone, for a child process that
    must reach Temporal as its parent does (the caller's settings may not be the environment's)."""
    child = {name: value for name, value in env.items() if name not in VARIABLES}
    values = {
        TLS: None if settings.temporal_tls is None else str(settings.temporal_tls).lower(),
        CA: settings.temporal_tls_ca,
        SERVER_NAME: settings.temporal_tls_server_name or None,
        CERT: settings.temporal_tls_cert,
        KEY: settings.temporal_tls_key,
        API_KEY: settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        API_KEY_FILE: settings.temporal_api_key_file,
    }
    child.update({name: str(value) for name, value in values.items() if value is not None})
    return child


def without_temporal_security(settings: Settings) -> Settings:
    """`settings` for a plaintext Temporal (the embedded stack's dev server)."""
    return settings.model_copy(
        update={
            "temporal_tls": None,
            "temporal_tls_ca": None,
            "temporal_tls_server_name": "",
            "temporal_tls_cert": None,
            "temporal_tls_key": None,
            "temporal_api_key": None,
            "temporal_api_key_file": None,
        }
    )


__all__ = [
    "VARIABLES",
    "TemporalSecurity",
    "TemporalSecurityError",
    "child_environment",
    "connection_failure",
    "describe",
    "files_to_read",
    "security",
    "tls_enabled",
    "without_temporal_security",
]
