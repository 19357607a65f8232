"""Test PKI: a trustme CA, server certificates, and client certificates with URI SANs
(SPIFFE IDs), which trustme cannot issue itself, signed with cryptography."""

from __future__ import annotations

import datetime
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class Pki:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca = trustme.CA()
        self.ca_path = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)

    def server(self, name: str, *identities: str) -> tuple[str, str]:
        cert = self.ca.issue_cert(*(identities or (name,)))
        cert_path, key_path = str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key")
        with open(cert_path, "wb") as f:
            for pem in cert.cert_chain_pems:
                f.write(pem.bytes())
        cert.private_key_pem.write_to_path(key_path)
        return cert_path, key_path

    def client(self, name: str, uri: str) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ca_cert = x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())
        ca_key = serialization.load_pem_private_key(self.ca.private_key_pem.bytes(), password=None)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        return cert_path, key_path
