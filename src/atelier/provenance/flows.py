"""The provenance pipeline, as a flow: hash → fingerprint → originality → sign → publish.

It starts when the grid accepts an artifact (`ArtifactAccepted`, see tasks.py) and runs one
committed transaction per step (core.flows): the slow work of each step (hashing, decoding in
the media sandbox, C2PA signing, uploading) happens with no transaction open and no row
locked; the step's results are then written to the artifact's `ProvenanceRecord` in the
step's own short transaction. After a crash it resumes at the first step not done, so an
artifact is never signed twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events, flows
from atelier.core.config import Settings
from atelier.core.errors import InvalidInput
from atelier.core.flows import Flow, StepContext
from atelier.grid.events import ArtifactAccepted, ImagePdq
from atelier.identity.service import wallets
from atelier.provenance import originality, service, signing
from atelier.provenance import repository as repo
from atelier.provenance.events import ArtifactSigned
from atelier.provenance.fingerprints import Fingerprints, Pdq
from atelier.provenance.models import ManifestState
from atelier.storage.blobs import store_for

SIGN_ARTIFACT: Flow[ArtifactAccepted] = Flow(service.SIGN_ARTIFACT_FLOW, ArtifactAccepted)

Ctx = StepContext[ArtifactAccepted]


class Hashed(BaseModel):
    cid: str
    size: int


def _pdq(printed: ImagePdq) -> Pdq:
    variants = tuple(bytes.fromhex(v) for v in printed.variants)
    return Pdq(bytes.fromhex(printed.hash), printed.quality, variants)


def _printed(pdq: Pdq) -> ImagePdq:
    return ImagePdq(hash=pdq.hex, quality=pdq.quality, variants=[v.hex() for v in pdq.variants])


class Printed(BaseModel):
    """Every fingerprint of the accepted bytes (the originality step's input)."""

    media: str
    pdq: list[ImagePdq]
    audio: list[int] | None = None
    semantic_model: str | None = None
    semantic_vector: str | None = None

    def semantic(self) -> originality.Semantic | None:
        if self.semantic_model is None or self.semantic_vector is None:
            return None
        return originality.Semantic(self.semantic_model, self.semantic_vector)


def _settings(ctx: Ctx) -> Settings:
    return ctx.runtime.settings


@SIGN_ARTIFACT.step("hash")
async def hash_original(ctx: Ctx) -> None:
    """SHA-256 and CID of the stored bytes, which must still be the ones accepted."""
    event = ctx.input
    original = store_for(_settings(ctx).blobs_dir).path(event.storage_key)
    ids = await service.content_ids(original)
    if ids.sha256 != event.sha256:
        error = "stored bytes no longer match the accepted sha256"
        async with ctx.fail(error) as session:
            await repo.upsert_record(
                session,
                event.artifact_id,
                event.sha256,
                manifest_state=ManifestState.FAILED,
                error=error,
            )
        return
    async with ctx.finish(Hashed(cid=ids.cid_v1, size=ids.size)) as session:
        await repo.upsert_record(
            session, event.artifact_id, event.sha256, cid_v1=ids.cid_v1, size_bytes=ids.size
        )


@SIGN_ARTIFACT.step("fingerprint")
async def fingerprint(ctx: Ctx) -> None:
    """PDQ (images, video keyframes), Chromaprint (audio) and CLIP (when configured), all
    decoded in the media sandbox. An image's PDQ comes with the event: the grid's validation
    computed it while the image was decoded (the hash step checked these are its bytes)."""
    event, settings = ctx.input, _settings(ctx)
    original = store_for(settings.blobs_dir).path(event.storage_key)
    if event.pdq is not None:
        found = Fingerprints("image", [_pdq(event.pdq)], None)
    else:
        try:
            found = await service.examine(settings, original, event.format)
        except InvalidInput as exc:  # accepted bytes that will not decode: nothing to print
            skipped = Printed(media="unknown", pdq=[])
            async with ctx.finish(skipped, note=f"skipped ({exc.detail})"):
                return
    semantic = await service.semantic_if_possible(settings, original, event.format)
    printed = Printed(
        media=found.media,
        pdq=[_printed(p) for p in found.pdq],
        audio=found.audio,
        semantic_model=semantic.model if semantic else None,
        semantic_vector=semantic.vector if semantic else None,
    )
    note = None if (found.pdq or found.audio) else "skipped (nothing to print)"
    written: dict[str, Any] = {}
    if found.pdq:
        written = {"fingerprint": found.pdq[0].hex, "fingerprint_quality": found.pdq[0].quality}
    elif found.audio:
        written = {"fingerprint": f"chromaprint:{len(found.audio)}"}
    async with ctx.finish(printed, note=note) as session:
        if written:
            await repo.update_record(session, event.artifact_id, **written)


@SIGN_ARTIFACT.step("originality")
async def assess_originality(ctx: Ctx) -> None:
    """Scored against the corpus, then added to it (later artifacts count it)."""
    event, settings = ctx.input, _settings(ctx)
    printed = ctx.output("fingerprint", Printed)
    assert printed is not None
    prints = [_pdq(p) for p in printed.pdq]
    index = originality.index_for(service.settings_key(settings))
    async with ctx.finish() as session:
        result = await originality.assess(
            session, index, event.sha256, prints, audio=printed.audio, semantic=printed.semantic()
        )
        await repo.update_record(
            session,
            event.artifact_id,
            originality=result.score,
            neighbours=result.neighbours,
            semantic_note=result.semantic,
        )
        if not await repo.in_corpus(session, event.artifact_id):
            await originality.add_to_corpus(
                session,
                sha256=event.sha256,
                media=printed.media,
                fingerprints=prints,
                source="artifact",
                label=f"{event.kind} {event.artifact_id}",
                artifact_id=event.artifact_id,
                audio=printed.audio,
                semantic=printed.semantic(),
            )


@SIGN_ARTIFACT.step("sign")
async def sign(ctx: Ctx) -> None:
    """A C2PA manifest into a copy of the accepted bytes (a sidecar for EXR), with the
    creator's wallet proof when the platform holds that wallet; the signed copy is stored
    content-addressed (signing again after a crash stores the same key)."""
    event, settings = ctx.input, _settings(ctx)
    hashed = ctx.output("hash", Hashed)
    assert hashed is not None
    async with ctx.read() as session:
        record = await repo.record(session, event.artifact_id)
        assert record is not None
        fingerprint = record.fingerprint
    generation = service.generation_of(event, hashed.cid)
    proof = None
    if event.wallet and event.creator_id:
        typed = service.typed_data(settings, event.sha256, hashed.cid, fingerprint, event.model)
        async with ctx.read() as session:
            signature = await wallets.sign_typed_data_for(
                session, settings, event.creator_id, event.wallet, typed
            )
        if signature is not None:
            proof = {"wallet": event.wallet, "signature": signature, "typed_data": typed}
    try:
        copy = await service.sign_copy(settings, event.artifact_id, generation, proof)
    except signing.ManifestError as exc:
        async with ctx.fail(str(exc)) as session:
            await repo.update_record(
                session, event.artifact_id, manifest_state=ManifestState.FAILED, error=str(exc)
            )
            await events.emit(session, _signed(event, signed=False))
        return
    note = "done (platform-held wallet proof)" if proof else None
    written = {"creator_id": event.creator_id, "wallet": event.wallet, "generation": generation}
    if proof is not None:
        written["wallet_proof"] = proof
    async with ctx.finish(note=note) as session:
        await repo.update_record(
            session, event.artifact_id, **written, **service.signed_values(copy)
        )
        await events.emit(session, _signed(event, signed=True))


def _signed(event: ArtifactAccepted, *, signed: bool) -> ArtifactSigned:
    return ArtifactSigned(
        artifact_id=event.artifact_id,
        request_id=event.request_id,
        creator_id=event.creator_id,
        signed=signed,
    )


@SIGN_ARTIFACT.step("publish")
async def publish(ctx: Ctx) -> None:
    """The signed copy onto every configured target (S3, IPFS); none configured: done."""
    event, settings = ctx.input, _settings(ctx)
    if not service.publishers(settings):
        async with ctx.finish(note="skipped (no publish targets)"):
            return
    async with ctx.read() as session:
        record = await repo.record(session, event.artifact_id)
        assert record is not None
        published = await service.publish_copy(settings, record)  # raises: retried
    async with ctx.finish() as session:
        record = await repo.record_for_update(session, event.artifact_id, event.sha256)
        record.published = service.merged(record.published, published)


@SIGN_ARTIFACT.give_up
async def record_failure(session: AsyncSession, ctx: Ctx, error: str) -> None:
    """A step failed every attempt: the artifact is shown failed (or, when only publishing
    failed, signed with the publishing error; POST /upload tries again)."""
    event = ctx.input
    failed = {} if ctx.step == "publish" else {"manifest_state": ManifestState.FAILED}
    await repo.upsert_record(session, event.artifact_id, event.sha256, error=error, **failed)


async def start_for(session: AsyncSession, event: ArtifactAccepted) -> None:
    """Start the pipeline for an accepted artifact, in the caller's transaction (once: the
    run is keyed by the artifact, so a redelivered event finds the run it started)."""
    await flows.start(session, SIGN_ARTIFACT, str(event.artifact_id), event)
