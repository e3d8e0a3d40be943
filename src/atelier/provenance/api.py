"""Provenance routes (the Soulvan CLIP provenance service, port 5200)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import Field

from atelier.core.errors import InvalidInput, ServiceUnavailable
from atelier.core.http import runtime_of
from atelier.core.schemas import Body, Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import (
    CurrentPrincipal,
    OptionalPrincipal,
    limit_open_writes,
    limit_writes,
    require_role,
)
from atelier.identity.principal import Principal
from atelier.provenance import originality, service
from atelier.provenance.deps import discard, receive
from atelier.provenance.schemas import originality_out, verification_out

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
    path = await receive(request, principal, file)
    sidecar: Path | None = None
    try:
        if manifest is not None:
            sidecar = await receive(request, principal, manifest)
        async with unit_of_work(runtime) as session:
            result = await service.verify(session, runtime.settings, path, sidecar)
    finally:
        discard(path, sidecar)
    return verification_out(result, manifest is not None)


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
        path = await receive(request, principal, file)
        try:
            model, vector = await service.embed_image(settings, path)
        finally:
            discard(path)
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
    path = await receive(request, principal, file)
    try:
        runtime = runtime_of(request)
        async with unit_of_work(runtime) as session:
            report = await service.audit(session, runtime.settings, path)
    finally:
        discard(path)
    return originality_out(report)


@router.post("/index", status_code=201, dependencies=[Depends(limit_writes)])
async def index(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("validator"))],
    file: Annotated[UploadFile, File()],
    label: Annotated[Text | None, Form(max_length=300)] = None,
) -> dict[str, Any]:
    """Add a known work to the corpus (validators and admins)."""
    path = await receive(request, principal, file)
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
        discard(path)
