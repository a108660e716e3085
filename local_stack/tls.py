"""The local stack's TLS: a certificate authority of its own and one server certificate,
for Kafka's TLS listener and PostgreSQL's TLS when the settings ask for them.

``make local-tls`` (``python -m local_stack tls``) writes them under
``LOCAL_STACK_DIR/tls`` once; point ``KAFKA_SSL_CAFILE`` and the DSNs' ``sslrootcert`` at
``ca.pem``, and the next ``make local-up`` serves TLS (and SCRAM) as the settings say. The
server certificate names ``localhost`` and ``127.0.0.1``, so clients verify host names as
they would against a real cluster. Nothing here is for production: a real deployment
uses the certificates of Amazon MSK and Redshift (or its own PKI).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

VALID_DAYS = 825
"""How long the certificates last (the most that browsers and TLS libraries accept for
a server certificate)."""


class _Pem:
    """A PEM file of :class:`TlsFiles`, by name in its folder."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, files: TlsFiles, owner: type[TlsFiles] | None = None) -> Path:
        return files.folder / self.name


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of the local stack's TLS."""

    folder: Path

    ca = _Pem("ca.pem")
    """The CA certificate: what clients trust (KAFKA_SSL_CAFILE, sslrootcert)."""
    cert = _Pem("server.pem")
    """The server certificate, then the CA's (the chain servers present)."""
    key = _Pem("server-key.pem")
    """The server's private key (PKCS#8, unencrypted, readable by its owner only)."""
    keystore = _Pem("server-keystore.pem")
    """Key and chain in one file: Kafka's PEM key store."""

    def exist(self) -> bool:
        """Whether every file is there."""
        return all(p.is_file() for p in (self.ca, self.cert, self.key, self.keystore))


def tls_files(settings: Settings) -> TlsFiles:
    """Where the local stack keeps its TLS files."""
    return TlsFiles(settings.local_stack_dir.resolve() / "tls")


def kafka_tls(settings: Settings) -> bool:
    """Whether the settings ask the brokers for TLS."""
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def postgres_tls(settings: Settings) -> bool:
    """Whether the pipeline's DSN asks PostgreSQL for TLS (then the local one requires it)."""
    return dict(settings.warehouse.params).get("sslmode") in ("require", "verify-ca", "verify-full")


def ensure_certificates(settings: Settings) -> TlsFiles:
    """Write the CA and the server certificate if missing; return their files."""
    files = tls_files(settings)
    if files.exist():
        return files
    files.folder.mkdir(parents=True, exist_ok=True)
    files.folder.chmod(0o700)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lambda-tweets local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = server.public_bytes(pem) + ca.public_bytes(pem)
    _write(files.ca, ca.public_bytes(pem), 0o644)
    _write(files.cert, chain, 0o644)
    _write(files.key, key_pem, 0o600)
    _write(files.keystore, key_pem + chain, 0o600)
    # The CA's key is not kept: nothing else is ever signed with it.
    logger.info("wrote the local stack's CA and server certificate to %s", files.folder)
    return files


def _write(path: Path, data: bytes, mode: int) -> None:
    path.touch(mode=mode, exist_ok=True)
    path.chmod(mode)
    path.write_bytes(data)
