"""The development CA and the broker's certificate, made with `cryptography` on first start.

For one machine (and CI) only: a real deployment brings the organisation's own CA and a
certificate per broker (deploy/). Keys are PKCS#8 PEM, files 0600 in the secrets dir; the
broker reads them as PEM key stores (Kafka 4 needs no keytool step).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ketenbus.security.properties import write_private

CA_NAME = "ketenbus development CA"
#: the common name of the brokers' certificate, also their principal on the controller
#: listener (mutual TLS): User:<BROKER_CN>
BROKER_CN = "ketenbus-broker"
CA_DAYS = 3650
BROKER_DAYS = 825


@dataclass(frozen=True)
class PkiFiles:
    """Where the CA and the broker key and certificate live."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def broker_cert(self) -> Path:
        return self.directory / "broker.pem"

    @property
    def broker_key(self) -> Path:
        return self.directory / "broker.key"

    def complete(self) -> bool:
        paths = (self.ca_cert, self.ca_key, self.broker_cert, self.broker_key)
        return all(p.is_file() for p in paths)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ketenbus"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign certificates but no further CAs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(CA_NAME)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_broker_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: dt.datetime,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The brokers' certificate: server (client listener) and client (controller quorum)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(BROKER_CN))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=BROKER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def ensure_pki(directory: Path, now: dt.datetime | None = None) -> PkiFiles:
    """Create the CA and broker certificate once; existing files are kept (idempotent)."""
    files = PkiFiles(directory)
    if files.complete():
        return files
    now = now or dt.datetime.now(dt.UTC)
    ca_key, ca_cert = make_ca(now)
    broker_key, broker_cert = make_broker_cert(ca_key, ca_cert, now)
    pem = serialization.Encoding.PEM
    write_private(files.ca_key, _key_pem(ca_key))
    write_private(files.broker_key, _key_pem(broker_key))
    write_private(files.broker_cert, broker_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    write_private(files.ca_cert, ca_cert.public_bytes(pem))  # last: marks the set complete
    return files
