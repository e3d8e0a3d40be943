"""Provenance routes (the Soulvan CLIP provenance service, port 5200)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import Field

from atelier.core.errors import InvalidInput, PayloadTooLarge, ServiceUnavailable
from atelier.core.http import runtime_of
from atelier.core.schemas import Body, Text
from atelier.core.secrets import ensure_private_dir
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import (
    CurrentPrincipal,
    OptionalPrincipal,
    limit_open_writes,
    limit_writes,
    require_role,
)
from atelier.identity.principal import Principal
from atelier.provenance import originality, service, wallet_proof
from atelier.storage.blobs import copy_stream

router = APIRouter(tags=["provenance"])


@router.post("/verify", dependencies=[Depends(limit_open_writes)])
async def verify(
    request: Request,
    principal: OptionalPrincipal,
    file: Annotated[UploadFile, File()],
    manifest: Annotated[
        UploadFile | None, File(description="the file's sidecar .c2pa manifest (OpenEXR)")
    ] = None,
) -> dict[str, Any]:
    """Any file in: its SHA-256 and CID, its C2PA manifest as c2pa validates it (Valid,
    Trusted with Atelier's root as anchor, or Invalid with the failure codes) — embedded, or
    the sidecar sent with it —, the signer, whether it is a known Atelier artifact, and its
    originality."""
    runtime = runtime_of(request)
    path = await _receive(request, principal, file)
    sidecar: Path | None = None
    try:
        if manifest is not None:
            sidecar = await _receive(request, principal, manifest)
        async with unit_of_work(runtime) as session:
            result = await service.verify(session, runtime.settings, path, sidecar)
    finally:
        for received in (path, sidecar):
            if received is not None:
                shutil.rmtree(received.parent, ignore_errors=True)
    report = result.manifest
    proof = wallet_proof.check(report.wallet_proof)
    return {
        "sha256": result.ids.sha256,
        "cid": result.ids.cid_v1,
        "cid_v0": result.ids.cid_v0,
        "size_bytes": result.ids.size,
        "mime": result.mime,
        "manifest": {
            "state": report.state,
            "note": report.note,
            "sidecar": manifest is not None,
            "failures": report.failures,
            "signer": report.signer,
            "issuer": report.issuer,
            "digital_source_type": report.digital_source_type,
            "generation": report.generation,
            "wallet": proof,
        },
        "known_artifact": result.known,
        "originality": _originality(result.originality) if result.originality else None,
        "originality_note": result.originality_note,
    }


def _originality(report: originality.Originality) -> dict[str, Any]:
    return {"score": report.score, "neighbours": report.neighbours, "semantic": report.semantic}


async def _receive(request: Request, principal: Principal | None, file: UploadFile) -> Path:
    """The upload in a private work directory; signed-in callers may send more."""
    settings = runtime_of(request).settings
    limit = settings.max_verify_bytes if principal is not None else settings.anonymous_upload_bytes
    ensure_private_dir(settings.uploads_dir)
    workdir = Path(tempfile.mkdtemp(dir=settings.uploads_dir))
    path = workdir / "upload"
    try:
        await anyio.to_thread.run_sync(copy_stream, file.file, path, limit)
    except ValueError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise PayloadTooLarge(
            str(exc) + ("" if principal else "; sign in to send larger files")
        ) from None
    finally:
        await file.close()
    return path


class SignIn(Body):
    artifact_id: uuid.UUID
    signature: str | None = Field(default=None, max_length=200)


@router.post("/sign")
async def sign(body: SignIn, principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    """The creator's wallet signs their artifact. Without `signature`: returns the EIP-712
    typed data to sign (eth_signTypedData_v4). With it: checks that it recovers the job's
    wallet (or one linked to your account) and re-signs the C2PA manifest with the proof."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        if body.signature is None:
            return await service.proof_request(
                session, runtime.settings, principal, body.artifact_id
            )
        trail = await service.submit_proof(
            session, runtime.settings, principal, body.artifact_id, body.signature
        )
        return trail.summary


@router.post("/embed", dependencies=[Depends(limit_open_writes)])
async def embed(
    request: Request,
    principal: OptionalPrincipal,
    file: Annotated[UploadFile | None, File(description="an image (PNG or JPEG)")] = None,
    text: Annotated[Text | None, Form(min_length=1, max_length=1000)] = None,
) -> dict[str, Any]:
    """The CLIP embedding of an image (`file`) or of a text (`text`), from the configured
    encoders (unit vectors: cosine similarity is a dot product)."""
    settings = runtime_of(request).settings
    if (file is None) == (text is None):
        raise InvalidInput("send either an image `file` or a `text`", slug="invalid-input")
    if text is not None:
        model, vector = await service.embed_text(settings, text)
    else:
        assert file is not None
        if settings.clip_visual_model is None:  # say so before taking the upload
            raise ServiceUnavailable(
                originality.SEMANTIC_NOT_CONFIGURED, slug="clip-not-configured"
            )
        path = await _receive(request, principal, file)
        try:
            model, vector = await service.embed_image(settings, path)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
    return {"model": model, "dimensions": len(vector), "embedding": vector}


class UploadIn(Body):
    artifact_id: uuid.UUID


@router.post("/upload")
async def upload(body: UploadIn, principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    """Publish one of your artifacts (its signed copy) to the configured S3 bucket, Kubo node
    and Pinata; IPFS answers are checked against our own CID."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        published = await service.upload(session, runtime.settings, principal, body.artifact_id)
    return {"artifact_id": str(body.artifact_id), "published": published}


@router.post("/audit", dependencies=[Depends(limit_open_writes)])
async def audit(
    request: Request, principal: OptionalPrincipal, file: Annotated[UploadFile, File()]
) -> dict[str, Any]:
    """Originality of a file against the known corpus (nothing is stored): exact, then
    perceptual (PDQ, Chromaprint), then semantic (CLIP), with the matching works as evidence.
    A file that does not decode is a 422."""
    path = await _receive(request, principal, file)
    try:
        runtime = runtime_of(request)
        async with unit_of_work(runtime) as session:
            report = await service.audit(session, runtime.settings, path)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return _originality(report)


@router.post("/index", status_code=201, dependencies=[Depends(limit_writes)])
async def index(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("validator"))],
    file: Annotated[UploadFile, File()],
    label: Annotated[Text | None, Form(max_length=300)] = None,
) -> dict[str, Any]:
    """Add a known work to the corpus (validators and admins)."""
    path = await _receive(request, principal, file)
    try:
        runtime = runtime_of(request)
        async with unit_of_work(runtime) as session:
            item = await service.index_file(session, runtime.settings, path, label, "index")
            return {
                "corpus_id": item.id,
                "sha256": item.sha256,
                "media": item.media,
                "label": item.label,
            }
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
