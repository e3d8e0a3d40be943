"""The C2PA signing identity: a CA chain Atelier creates on first run, or the operator's.

c2pa refuses self-signed signing certificates, so first run creates a root CA and a signing
certificate it issues (ES256 / P-256, CA:FALSE, digitalSignature, EKU emailProtection).
Keys are written 0600 under `ATELIER_HOME/secrets/c2pa/`. Verifiers that add
`root.pem` as a trust anchor see our manifests as Trusted; others see them as Valid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atelier.core.clock import now_utc
from atelier.core.secrets import ensure_private_dir, write_private_file


@dataclass(frozen=True)
class SigningIdentity:
    chain_pem: bytes  # signing certificate first, then its issuers
    key_pem: bytes
    root_pem: bytes | None  # our own root, offered as trust anchor; None for operator certs

    @property
    def signer_name(self) -> str:
        certificate = x509.load_pem_x509_certificate(self.chain_pem)
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Atelier"),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_chain(directory: Path, label: str = "Atelier") -> SigningIdentity:
    now = now_utc()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{label} Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} Content Signer"))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    ensure_private_dir(directory)
    root_pem = root.public_bytes(serialization.Encoding.PEM)
    chain_pem = leaf.public_bytes(serialization.Encoding.PEM) + root_pem
    write_private_file(directory / "root.key", _pem_key(root_key))
    write_private_file(directory / "signer.key", _pem_key(leaf_key))
    (directory / "root.pem").write_bytes(root_pem)
    (directory / "chain.pem").write_bytes(chain_pem)
    return SigningIdentity(chain_pem, _pem_key(leaf_key), root_pem)


def load_identity(
    directory: Path, operator_chain: Path | None = None, operator_key: Path | None = None
) -> SigningIdentity:
    """The operator's certificate when configured, else ours (created on first use)."""
    if operator_chain is not None and operator_key is not None:
        return SigningIdentity(operator_chain.read_bytes(), operator_key.read_bytes(), None)
    if not (directory / "chain.pem").exists():
        return create_chain(directory)
    return SigningIdentity(
        (directory / "chain.pem").read_bytes(),
        (directory / "signer.key").read_bytes(),
        (directory / "root.pem").read_bytes(),
    )
