"""The embedded S3 server's back doors, closed: what keeps another user of the same machine out
of the stack's data when SeaweedFS listens on loopback, where every local user can connect.

SeaweedFS serves S3 (signed with the stack's keys) but also its own HTTP and gRPC APIs (filer,
master, volume, admin), which by default answer anyone: the filer's HTTP API alone hands out
every object. Here:
- filer and volume HTTP reads and writes need JWTs signed with keys drawn at each start;
- every gRPC endpoint needs a client certificate from a CA kept in the stack's home (0700);
- the admin UI needs a password drawn at each start, and no directory listings are served;
- browsers' cross-origin requests are limited to the S3 endpoint's own origin;
- the anonymous telemetry SeaweedFS's master sends home is off.
The S3 keys themselves come from the stack's settings.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from pathlib import Path

from hpo.storage.private_dir import write_private_file

# SeaweedFS reads security.toml's settings from WEED_* variables; these are its gRPC roles.
_GRPC_ROLES = (
    "MASTER",
    "VOLUME",
    "FILER",
    "S3",
    "ADMIN",
    "WORKER",
    "CLIENT",
    "MSG_BROKER",
    "MSG_AGENT",
    "MQ",
)
CERT_DAYS = 3650


def seaweed_flags(s3_endpoint_origin: str) -> list[str]:
    """`weed mini` flags that close what needs no secret: telemetry, cross-origin access."""
    return [
        "-master.telemetry=false",
        f"-s3.allowedOrigins={s3_endpoint_origin}",
        f"-filer.allowedOrigins={s3_endpoint_origin}",
    ]


def seaweed_env(home: Path) -> dict[str, str]:
    """Environment for the SeaweedFS process only (never its clients): fresh JWT keys and admin
    password, and the gRPC certificates under `home`/s3-grpc (made on first use, then kept)."""
    folder = _grpc_material(home / "s3-grpc")
    env = {
        # 32 random bytes each; SeaweedFS's STS also derives from the filer key and wants >= 16.
        "WEED_JWT_SIGNING_KEY": secrets.token_hex(32),
        "WEED_JWT_SIGNING_READ_KEY": secrets.token_hex(32),
        "WEED_JWT_FILER_SIGNING_KEY": secrets.token_hex(32),
        "WEED_JWT_FILER_SIGNING_READ_KEY": secrets.token_hex(32),
        "WEED_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "WEED_FILER_EXPOSE_DIRECTORY_METADATA_ENABLED": "false",
        "WEED_GRPC_CA": str(folder / "ca.crt"),
    }
    for role in _GRPC_ROLES:
        env[f"WEED_GRPC_{role}_CERT"] = str(folder / "tls.crt")
        env[f"WEED_GRPC_{role}_KEY"] = str(folder / "tls.key")
    return env


def _grpc_material(folder: Path) -> Path:
    """A private CA and one certificate it signed (for 127.0.0.1 and localhost), which every
    SeaweedFS component presents and requires: only the stack's owner can read the key."""
    if all((folder / name).is_file() for name in ("ca.crt", "tls.crt", "tls.key")):
        return folder
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str,
        issuer: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hpo embedded stack CA")])
    ca = certificate("hpo embedded stack CA", ca_name, ca_key, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate("hpo-embedded-stack", ca_name, key, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    write_private_file(folder / "ca.crt", ca.public_bytes(pem))
    write_private_file(folder / "tls.crt", leaf.public_bytes(pem))
    write_private_file(
        folder / "tls.key",
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return folder
