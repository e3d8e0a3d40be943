"""Content ids against Debian's ipfs-cid, and C2PA manifests read back by c2pa itself."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from atelier.generators.registry import available_backends, pick
from atelier.provenance import signing
from atelier.provenance.certificates import create_chain, load_identity
from atelier.provenance.cid import CHUNK_SIZE, MAX_LINKS, content_ids, file_ids

IPFS_CID = shutil.which("ipfs_cid")


@pytest.mark.skipif(
    IPFS_CID is None, reason="Debian's ipfs-cid is not installed (make test installs it)"
)
@pytest.mark.parametrize(
    "size",
    [0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 1_000_000, MAX_LINKS * CHUNK_SIZE + 1],
    ids=["empty", "1B", "1kB", "one-chunk", "two-chunks", "1MB", "two-levels"],
)
def test_cid_equals_ipfs_cid(tmp_path: Path, size: int) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(size))
    reference = json.loads(
        subprocess.run([IPFS_CID, str(path)], capture_output=True, text=True, check=True).stdout
    )
    ours = file_ids(path)
    assert ours.cid_v1 == reference["CIDv1"]
    assert ours.cid_v0 == reference["CIDv0"]
    assert ours.size == size


def test_sha256_streams_and_is_stable() -> None:
    data = os.urandom(3 * CHUNK_SIZE + 7)
    import hashlib

    ids = content_ids(io.BytesIO(data))
    assert ids.sha256 == hashlib.sha256(data).hexdigest()
    assert content_ids(io.BytesIO(data)) == ids


def test_ca_chain_has_the_profile_c2pa_requires(tmp_path: Path) -> None:
    identity = create_chain(tmp_path / "c2pa")
    leaf, root = x509.load_pem_x509_certificates(identity.chain_pem)
    assert leaf.issuer == root.subject
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    for key in ("root.key", "signer.key"):
        assert stat.S_IMODE((tmp_path / "c2pa" / key).stat().st_mode) == 0o600
    assert load_identity(tmp_path / "c2pa").chain_pem == identity.chain_pem  # created once


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("image", {"format": "png"}),
        ("image", {"format": "jpeg"}),
        ("music", {"duration_s": 1}),
        ("video", {"duration_s": 1, "width": 128, "height": 72}),
    ],
    ids=["png", "jpeg", "wav", "mp4"],
)
def test_signed_media_reads_back_trusted_and_tampering_is_caught(
    tmp_path: Path, kind: str, params: dict
) -> None:
    identity = load_identity(tmp_path / "c2pa")
    backends, _ = available_backends()
    output = pick(backends, kind, None).generate(kind, params, tmp_path, lambda _: None)
    signed = tmp_path / f"signed{output.path.suffix}"
    manifest = signing.manifest_for(
        signed.name, output.model, {"model": output.model, "sha256": "x"}
    )
    signing.sign(identity, output.path, output.mime, signed, manifest)

    trusted = signing.read(signed, output.mime, identity.root_pem)
    assert trusted.state == "Trusted", trusted.failures
    assert trusted.signer == "Atelier Content Signer"
    assert trusted.digital_source_type == signing.TRAINED_ALGORITHMIC_MEDIA
    assert trusted.generation == {"model": output.model, "sha256": "x"}
    assert signing.read(signed, output.mime, None).state == "Valid"  # no anchor: valid, untrusted
    assert signing.read(output.path, output.mime, identity.root_pem).state == "none"

    data = bytearray(signed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / f"tampered{output.path.suffix}"
    tampered.write_bytes(bytes(data))
    report = signing.read(tampered, output.mime, identity.root_pem)
    assert report.state == "Invalid"
    assert report.failures


def test_someone_elses_chain_is_not_trusted_by_our_root(tmp_path: Path) -> None:
    ours = load_identity(tmp_path / "ours")
    theirs = create_chain(tmp_path / "theirs", label="Mallory")
    backends, _ = available_backends()
    output = pick(backends, "image", None).generate("image", {}, tmp_path, lambda _: None)
    signed = tmp_path / "signed.png"
    signing.sign(theirs, output.path, output.mime, signed, signing.manifest_for("x", None, {}))
    report = signing.read(signed, output.mime, ours.root_pem)
    assert report.state == "Valid"
    assert report.signer == "Mallory Content Signer"


def test_exr_is_signed_with_a_sidecar_bound_to_its_bytes(tmp_path: Path) -> None:
    identity = load_identity(tmp_path / "c2pa")
    backends, _ = available_backends()
    output = pick(backends, "render", None).generate(
        "render", {"format": "exr", "width": 64, "height": 64}, tmp_path, lambda _: None
    )
    signed = tmp_path / "signed.exr"
    sidecar = signing.sign(
        identity,
        output.path,
        "image/x-exr",
        signed,
        signing.manifest_for("x.exr", output.model, {"model": output.model}),
    )
    assert sidecar is not None
    assert signed.read_bytes() == output.path.read_bytes()  # the EXR itself is untouched
    report = signing.read(signed, "image/x-exr", identity.root_pem, sidecar)
    assert report.state == "Trusted", report.failures
    assert report.generation == {"model": output.model}
    alone = signing.read(signed, "image/x-exr", identity.root_pem)
    assert alone.state == "none" and alone.note and "sidecar" in alone.note
    data = bytearray(signed.read_bytes())
    data[-10] ^= 0xFF
    tampered = tmp_path / "tampered.exr"
    tampered.write_bytes(bytes(data))
    broken = signing.read(tampered, "image/x-exr", identity.root_pem, sidecar)
    assert broken.state == "Invalid" and "assertion.dataHash.mismatch" in broken.failures
    with pytest.raises(signing.ManifestError, match="cannot sign"):
        signing.sign(identity, output.path, "text/html", tmp_path / "y.html", {})


def test_operator_certificate_is_used_when_configured(tmp_path: Path) -> None:
    operator = create_chain(tmp_path / "operator-ca", label="Studio Example")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(operator.chain_pem)
    key.write_bytes(operator.key_pem)
    identity = load_identity(tmp_path / "ours", chain, key)
    assert identity.root_pem is None  # no root of ours is created or offered
    assert not (tmp_path / "ours").exists()
    assert identity.signer_name == "Studio Example Content Signer"
    backends, _ = available_backends()
    output = pick(backends, "image", None).generate("image", {}, tmp_path, lambda _: None)
    signed = tmp_path / "signed.png"
    signing.sign(identity, output.path, output.mime, signed, signing.manifest_for("x", None, {}))
    assert signing.read(signed, output.mime, operator.root_pem).state == "Trusted"
