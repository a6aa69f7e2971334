"""A throwaway PKI for tests: a CA, server and client certificates made with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: Path
    key: Path


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(folder: Path, name: str, cert, key) -> Issued:
    c, k = folder / f"{name}.pem", folder / f"{name}-key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return Issued(c, k)


class TestCA:
    """Issues certificates; `days` may be negative to make an expired one."""

    __test__ = False

    def __init__(self, folder: Path, name: str = "npo test CA"):
        self.folder = folder
        self.key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca = _write(folder, name.replace(" ", "-"), self.cert, self.key).cert

    def issue(self, name: str, *, server: bool = False, serial_number: str | None = None,
              days: int = 10) -> Issued:
        key = _key()
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        if serial_number:  # SITHS puts the employee HSA-id here
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
        now = dt.datetime.now(dt.timezone.utc)
        start, end = (now - dt.timedelta(days=1), now + dt.timedelta(days=days)) if days > 0 else \
            (now + dt.timedelta(days=days - 2), now + dt.timedelta(days=days))
        builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False))
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                             x509.DNSName("localhost")]), critical=False)
        return _write(self.folder, name.replace(" ", "-"), builder.sign(self.key, hashes.SHA256()), key)
