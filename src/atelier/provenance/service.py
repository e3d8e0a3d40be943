"""Provenance: what the signing pipeline (flows.py) is made of, the creator's wallet proof,
publishing, verification and audits of any file.

The slow parts (hashing, decoding in the media sandbox, C2PA signing, uploads) are plain
functions that take no session, so that no caller holds a row lock while they run.
"""

from __future__ import annotations

import functools
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import flows
from atelier.core.config import Settings
from atelier.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from atelier.core.logging import get_logger
from atelier.core.signatures import canonical_signature
from atelier.grid.events import ArtifactAccepted
from atelier.identity.principal import Principal
from atelier.identity.service import wallets
from atelier.provenance import embeddings, originality, signing, wallet_proof
from atelier.provenance import repository as repo
from atelier.provenance.certificates import SigningIdentity, load_identity
from atelier.provenance.cid import ContentIds, file_ids
from atelier.provenance.fingerprints import Fingerprints, fingerprint_within
from atelier.provenance.models import CorpusItem, ManifestState, ProvenanceRecord
from atelier.provenance.schemas import Verification
from atelier.storage.blobs import store_for
from atelier.storage.media import (
    IMAGE_DECODE_ERRORS,
    MIME,
    MediaLimits,
    MediaRefused,
    probe,
    sniff_path,
)
from atelier.storage.publish import Publisher, PublishError, publishers_from
from atelier.storage.sandbox import Budget, run_limited

log = get_logger("atelier.provenance")


def settings_key(settings: Settings) -> str:
    """Which database an in-process index mirrors (tests run several in one process)."""
    return str(settings.database_url.get_secret_value() if settings.database_url else settings.home)


def semantic_of(settings: Settings, path: Path, fmt: str) -> originality.Semantic | None:
    """The CLIP embedding of an image, when an encoder is configured (else None).

    An image that does not decode is a 422 `undecodable`; a configured model that cannot be
    loaded is a 503 `clip-not-configured`."""
    try:
        encoder = embeddings.visual_encoder(settings.clip_visual_model)
    except embeddings.EncoderUnavailable as exc:
        raise ServiceUnavailable(str(exc), slug="clip-not-configured") from None
    if encoder is None or fmt not in ("png", "jpeg"):
        return None
    try:
        probe(path, fmt, MediaLimits.of(settings))  # the pixel limit, from the header
        with Image.open(path) as image:
            vector = encoder.embed([image])[0]
    except MediaRefused as exc:
        raise InvalidInput(f"the image cannot be read: {exc.reason}", slug="undecodable") from None
    except IMAGE_DECODE_ERRORS as exc:
        raise InvalidInput(f"the image does not decode: {exc}", slug="undecodable") from None
    return originality.Semantic(encoder.name, embeddings.to_pgvector(vector))


async def semantic_if_possible(
    settings: Settings, path: Path, fmt: str
) -> originality.Semantic | None:
    """The embedding where one can be had: the other tiers still answer for an image CLIP
    cannot read, and a missing model must not stop signing (it is logged)."""
    try:
        return await anyio.to_thread.run_sync(semantic_of, settings, path, fmt)
    except InvalidInput:
        return None
    except ServiceUnavailable as exc:
        log.warning("provenance.semantic_unavailable", reason=exc.detail)
        return None


async def embed_image(settings: Settings, path: Path) -> tuple[str, list[float]]:
    """An image's CLIP embedding as the model names it and as plain numbers."""
    fmt = sniff_file(path)
    if fmt not in ("png", "jpeg"):
        raise InvalidInput(f"CLIP embeds images; this is {fmt.upper()}", slug="not-an-image")
    semantic = await anyio.to_thread.run_sync(semantic_of, settings, path, fmt)
    if semantic is None:
        raise ServiceUnavailable(originality.SEMANTIC_NOT_CONFIGURED, slug="clip-not-configured")
    return semantic.model, [float(v) for v in semantic.vector.strip("[]").split(",")]


async def embed_text(settings: Settings, text: str) -> tuple[str, list[float]]:
    try:
        encoder = embeddings.text_encoder(settings.clip_text_model, settings.clip_merges)
    except embeddings.EncoderUnavailable as exc:
        raise ServiceUnavailable(str(exc), slug="clip-not-configured") from None
    if encoder is None:
        raise ServiceUnavailable(
            "CLIP text encoder not configured (ATELIER_CLIP_TEXT_MODEL, ATELIER_CLIP_MERGES)",
            slug="clip-not-configured",
        )
    vector = (await anyio.to_thread.run_sync(encoder.embed, [text]))[0]
    return encoder.name, [float(v) for v in vector.tolist()]


def signing_identity(settings: Settings) -> SigningIdentity:
    return load_identity(
        settings.secrets_dir / "c2pa", settings.c2pa_cert_chain, settings.c2pa_private_key
    )


def publishers(settings: Settings) -> list[Publisher]:
    jwt = settings.publish_pinata_jwt.get_secret_value() if settings.publish_pinata_jwt else None
    return publishers_from(
        settings.publish_s3_url, settings.publish_s3_endpoint, settings.publish_kubo_api, jwt
    )


async def publish_copy(settings: Settings, record: ProvenanceRecord) -> list[dict[str, str]]:
    """Put the served copy (signed when it exists) on every configured target; what each
    target answered (the record is not changed: the caller merges it in, see `merged`)."""
    targets = publishers(settings)
    if not targets:
        raise PublishError("no publish targets are configured (ATELIER_PUBLISH_*)")
    generation = record.generation or {}
    key = record.signed_storage_key or generation.get("storage_key")
    if key is None:
        raise PublishError("the artifact has no stored copy yet")
    sha256 = record.signed_sha256 or record.sha256
    cid = record.signed_cid_v1 or record.cid_v1 or ""
    path = store_for(settings.blobs_dir).path(key)
    name = f"{record.artifact_id}.{generation.get('format', 'bin')}"
    mime = str(generation.get("mime", "application/octet-stream"))
    published = []
    for target in targets:
        result = await anyio.to_thread.run_sync(
            functools.partial(
                target.publish, path, sha256=sha256, cid=cid, mime=mime, filename=name
            )
        )
        published.append(result.as_dict())
    return published


def merged(old: list[dict[str, str]] | None, new: list[dict[str, str]]) -> list[dict[str, str]]:
    """The publications of a record: one per target, the newest winning."""
    by_target = {p["target"]: p for p in (old or [])}
    by_target.update({p["target"]: p for p in new})
    return list(by_target.values())


async def upload(
    session: AsyncSession, settings: Settings, principal: Principal, artifact_id: uuid.UUID
) -> list[dict[str, str]]:
    """`POST /upload`: publish one of your artifacts now (or again). The upload runs with no
    row locked; its results are merged into the record afterwards."""
    record = await repo.record(session, artifact_id)
    if record is None or (
        record.creator_id != principal.user_id and not principal.has_role("admin")
    ):
        raise NotFound("no such artifact of yours", slug="artifact-not-found")
    if not publishers(settings):
        raise ServiceUnavailable(
            "no publish targets are configured (ATELIER_PUBLISH_*)", slug="no-publish-targets"
        )
    try:
        published = await publish_copy(settings, record)
    except PublishError as exc:
        raise ServiceUnavailable(str(exc), slug="publish-failed") from None
    locked = await repo.record(session, artifact_id, for_update=True)
    assert locked is not None
    locked.published = merged(locked.published, published)
    return locked.published


async def content_ids(path: Path) -> ContentIds:
    return await anyio.to_thread.run_sync(file_ids, path)


def generation_of(event: ArtifactAccepted, cid: str) -> dict[str, Any]:
    """What the manifest says about how the artifact was made (and where its bytes are)."""
    return {
        "model": event.model,
        "worker": str(event.worker_id) if event.worker_id else None,
        "kind": event.kind,
        "sha256": event.sha256,
        "cid": cid,
        "format": event.format,
        "mime": signing.normalise_mime(event.mime),
        "storage_key": event.storage_key,
    }


def typed_data(
    settings: Settings, sha256: str, cid: str, fingerprint: str | None, model: str | None
) -> dict[str, Any]:
    """The EIP-712 statement a creator's wallet signs about an artifact."""
    return wallet_proof.typed_data(settings.siwe_chain_ids[0], sha256, cid, fingerprint, model)


@dataclass(frozen=True)
class SignedCopy:
    """A C2PA-signed copy of an artifact, stored content-addressed (signing the same input
    twice stores the same key), not yet recorded."""

    storage_key: str
    sha256: str
    cid: str
    size: int
    sidecar_key: str | None
    signer: str


async def sign_copy(
    settings: Settings,
    artifact_id: uuid.UUID,
    generation: dict[str, Any],
    proof: dict[str, Any] | None,
) -> SignedCopy:
    """Embed a manifest (with the wallet proof, if any) into the accepted bytes and store the
    signed copy. Slow (C2PA signing, hashing, storing): call it with no row locked."""
    return await anyio.to_thread.run_sync(_sign_copy, settings, artifact_id, generation, proof)


def _sign_copy(
    settings: Settings,
    artifact_id: uuid.UUID,
    generation: dict[str, Any],
    proof: dict[str, Any] | None,
) -> SignedCopy:
    details = dict(generation)
    storage_key, fmt, mime = (details.pop(k) for k in ("storage_key", "format", "mime"))
    identity = signing_identity(settings)
    blobs = store_for(settings.blobs_dir)
    manifest = signing.manifest_for(f"{artifact_id}.{fmt}", details.get("model"), details, proof)
    # The scratch folder is inside the store, so the signed copy is moved in, not copied.
    with tempfile.TemporaryDirectory(dir=settings.blobs_dir) as scratch:
        signed = Path(scratch) / f"signed.{fmt}"
        sidecar = signing.sign(identity, blobs.path(storage_key), mime, signed, manifest)
        ids = file_ids(signed)
        key = blobs.put_file(signed, sha256=ids.sha256, move=True)
        sidecar_key = None
        if sidecar is not None:
            manifest_file = Path(scratch) / "manifest.c2pa"
            manifest_file.write_bytes(sidecar)
            sidecar_key = blobs.put_file(manifest_file, move=True)
    return SignedCopy(key, ids.sha256, ids.cid_v1, ids.size, sidecar_key, identity.signer_name)


def signed_values(copy: SignedCopy) -> dict[str, Any]:
    """The record's columns that make the signed copy the one served."""
    return {
        "signed_storage_key": copy.storage_key,
        "sidecar_storage_key": copy.sidecar_key,
        "signed_sha256": copy.sha256,
        "signed_cid_v1": copy.cid,
        "signed_size_bytes": copy.size,
        "signer": copy.signer,
        "manifest_state": ManifestState.SIGNED,
    }


@dataclass(frozen=True)
class Delivery:
    """What the creator of an accepted artifact downloads, once provenance is through with it:
    the signed copy (and, for a type that cannot embed a manifest, its sidecar); or, if signing
    failed, nothing here (the grid hands out the accepted original and says so)."""

    state: str  # "signing" (not ready yet) | "signed" | "failed"
    storage_key: str | None = None
    sha256: str | None = None
    cid: str | None = None
    size_bytes: int | None = None
    sidecar_key: str | None = None
    error: str | None = None


def delivery(record: ProvenanceRecord | None) -> Delivery:
    if record is None or record.manifest_state not in (ManifestState.SIGNED, ManifestState.FAILED):
        return Delivery("signing")
    if record.manifest_state == ManifestState.FAILED or record.signed_storage_key is None:
        return Delivery("failed", error=record.error)
    return Delivery(
        "signed",
        record.signed_storage_key,
        record.signed_sha256,
        record.signed_cid_v1,
        record.signed_size_bytes,
        record.sidecar_storage_key,
    )


SIGN_ARTIFACT_FLOW = "provenance.sign_artifact"  # see flows.py


@dataclass(frozen=True)
class Trail:
    """What provenance says about one accepted artifact: the file to hand out and the
    provenance part of its job's status."""

    delivery: Delivery
    summary: dict[str, Any]


async def trail_of(session: AsyncSession, artifact_id: uuid.UUID) -> Trail:
    record = await repo.record(session, artifact_id)
    run = await flows.run_of(session, SIGN_ARTIFACT_FLOW, str(artifact_id))
    return Trail(delivery(record), summary(record, run))


def summary(record: ProvenanceRecord | None, run: flows.RunView | None) -> dict[str, Any]:
    """The provenance part of a job's status (the file you download is described beside it:
    `original_*` are the accepted bytes the manifest and the wallet proof speak of)."""
    steps = {name: step.shown for name, step in run.steps.items()} if run else {}
    if record is None:
        return {"manifest_state": ManifestState.PENDING, "steps": steps}
    return {
        "manifest_state": record.manifest_state,
        "manifest": "sidecar" if record.sidecar_storage_key else "embedded",
        "steps": steps,
        "original_sha256": record.sha256,
        "original_cid": record.cid_v1,
        "signer": record.signer,
        "fingerprint": {"pdq": record.fingerprint, "quality": record.fingerprint_quality}
        if record.fingerprint
        else None,
        "wallet_proof": _proof_state(record),
        "published": record.published or [],
        "originality": {
            "score": record.originality,
            "neighbours": record.neighbours or [],
            "semantic": record.semantic_note or originality.SEMANTIC_NOT_CONFIGURED,
        },
        "error": record.error,
    }


def _proof_state(record: ProvenanceRecord) -> dict[str, Any]:
    if record.wallet_proof:
        return {"state": "signed", "wallet": record.wallet_proof["wallet"]}
    if record.wallet:
        return {"state": "awaiting signature", "wallet": record.wallet}
    return {"state": "none", "wallet": None}


async def _creators_record(
    session: AsyncSession, principal: Principal, artifact_id: uuid.UUID
) -> ProvenanceRecord:
    record = await repo.record(session, artifact_id)
    if record is None or record.creator_id != principal.user_id:
        raise NotFound("no such artifact of yours", slug="artifact-not-found")
    if record.manifest_state == ManifestState.FAILED:
        raise Conflict(f"this artifact could not be signed: {record.error}", slug="signing-failed")
    if record.manifest_state != ManifestState.SIGNED or record.generation is None:
        raise Conflict(
            "the artifact is still being signed; try again in a moment",
            slug="artifact-not-ready",
            headers={"Retry-After": "1"},
        )
    return record


def _typed_data(settings: Settings, record: ProvenanceRecord) -> dict[str, Any]:
    model = (record.generation or {}).get("model")
    return typed_data(settings, record.sha256, record.cid_v1 or "", record.fingerprint, model)


async def proof_request(
    session: AsyncSession, settings: Settings, principal: Principal, artifact_id: uuid.UUID
) -> dict[str, Any]:
    """The EIP-712 typed data the creator's wallet signs (eth_signTypedData_v4)."""
    record = await _creators_record(session, principal, artifact_id)
    return {"typed_data": _typed_data(settings, record), "wallet": record.wallet}


async def submit_proof(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    artifact_id: uuid.UUID,
    signature: str,
) -> Trail:
    """Check the creator's signature and re-sign the artifact's manifest with it inside. The
    copy is signed with no row locked; the record then takes it (a concurrent proof for the
    same artifact is as valid: the later one is served)."""
    record = await _creators_record(session, principal, artifact_id)
    typed = _typed_data(settings, record)
    signer = wallet_proof.recover(typed, signature)
    if signer is None:
        raise InvalidInput("the signature is malformed", slug="invalid-signature")
    signature = canonical_signature(signature)  # recovered: well formed; v 27/28 from here
    if record.wallet is not None and signer.lower() != record.wallet.lower():
        raise Unauthorized(
            f"signed by {signer}, not by the job's wallet {record.wallet}", slug="wrong-wallet"
        )
    if not await wallets.wallet_of_user(session, principal.user_id, "evm", signer):
        raise Unauthorized(f"{signer} is not a wallet linked to your account", slug="wrong-wallet")
    proof = {"wallet": signer, "signature": signature, "typed_data": typed}
    assert record.generation is not None
    try:
        copy = await sign_copy(settings, artifact_id, record.generation, proof)
    except signing.ManifestError as exc:
        raise Conflict(f"re-signing failed: {exc}", slug="signing-failed") from None
    await repo.update_record(
        session, artifact_id, wallet=signer, wallet_proof=proof, **signed_values(copy)
    )
    return await trail_of(session, artifact_id)


def sniff_file(path: Path) -> str:
    real = sniff_path(path)
    if real is None:
        raise InvalidInput(
            "not a media file Atelier knows (PNG, JPEG, EXR, WAV, MP4)", slug="not-media"
        )
    return real


async def examine(settings: Settings, path: Path, fmt: str) -> Fingerprints:
    """Every fingerprint of a file, within the platform's media limits, decoded in the media
    sandbox; a file beyond the limits or that does not decode is a 422."""
    try:
        return await run_limited(
            fingerprint_within, path, fmt, MediaLimits.of(settings), budget=Budget.of(settings)
        )
    except MediaRefused as exc:
        raise InvalidInput(
            f"the {fmt.upper()} cannot be examined: {exc.reason.replace(str(path), 'it')}",
            slug="undecodable",
        ) from None


async def verify(
    session: AsyncSession, settings: Settings, path: Path, sidecar: Path | None = None
) -> Verification:
    """Report on any file: its ids, its C2PA manifest (embedded, or the sidecar given), whether
    we know it, and its originality (when it decodes within the limits)."""
    real = sniff_file(path)
    mime = MIME[real]
    identity = signing_identity(settings)
    ids = await anyio.to_thread.run_sync(file_ids, path)
    manifest_bytes = await anyio.to_thread.run_sync(sidecar.read_bytes) if sidecar else None
    try:
        manifest = await run_limited(
            signing.read, path, mime, identity.root_pem, manifest_bytes, budget=Budget.of(settings)
        )
    except MediaRefused as exc:
        manifest = signing.ManifestReport("Invalid", [f"unreadable: {exc.reason}"])
    match = await repo.record_by_content(session, ids.sha256)
    known = None
    if match is not None:
        known = {
            "artifact_id": str(match.artifact_id),
            "copy": "signed" if match.signed_sha256 == ids.sha256 else "original (unsigned)",
            "cid_matches": ids.cid_v1 in (match.signed_cid_v1, match.cid_v1),
        }
    try:
        report: originality.Originality | None = await audit_file(
            session, settings, path, real, ids.sha256
        )
        note = None
    except InvalidInput as exc:  # the manifest and ids still stand
        report, note = None, exc.detail
    return Verification(ids, mime, manifest, known, report, note)


async def audit_file(
    session: AsyncSession, settings: Settings, path: Path, fmt: str, sha256: str
) -> originality.Originality:
    found = await examine(settings, path, fmt)
    semantic = await semantic_if_possible(settings, path, fmt)
    index = originality.index_for(settings_key(settings))
    return await originality.assess(
        session, index, sha256, found.pdq, audio=found.audio, semantic=semantic
    )


async def audit(session: AsyncSession, settings: Settings, path: Path) -> originality.Originality:
    fmt = sniff_file(path)
    ids = await anyio.to_thread.run_sync(file_ids, path)
    return await audit_file(session, settings, path, fmt, ids.sha256)


async def index_file(
    session: AsyncSession, settings: Settings, path: Path, label: str | None, source: str
) -> CorpusItem:
    """Add a known work to the corpus (it will count against later artifacts)."""
    fmt = sniff_file(path)
    ids = await anyio.to_thread.run_sync(file_ids, path)
    found = await examine(settings, path, fmt)
    semantic = await anyio.to_thread.run_sync(semantic_of, settings, path, fmt)
    return await originality.add_to_corpus(
        session,
        sha256=ids.sha256,
        media=found.media,
        fingerprints=found.pdq,
        source=source,
        label=label,
        audio=found.audio,
        semantic=semantic,
    )
