"""Provenance routes (the Soulvan CLIP provenance service, port 5200)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Request, UploadFile

from atelier.core.errors import PayloadTooLarge
from atelier.core.http import runtime_of, unit_of_work
from atelier.provenance import service
from atelier.storage.blobs import copy_stream

router = APIRouter(tags=["provenance"])


@router.post("/verify")
async def verify(request: Request, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Any file in: its SHA-256 and CID, its C2PA manifest as c2pa validates it (Valid,
    Trusted with Atelier's root as anchor, or Invalid with the failure codes), the signer, and
    whether it is a known Atelier artifact."""
    runtime = runtime_of(request)
    settings = runtime.settings
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=settings.uploads_dir))
    try:
        path = workdir / "verify"
        try:
            await anyio.to_thread.run_sync(copy_stream, file.file, path, settings.max_verify_bytes)
        except ValueError as exc:
            raise PayloadTooLarge(str(exc)) from None
        async with unit_of_work(runtime) as session:
            result = await service.verify(session, settings, path)
    finally:
        await file.close()
        shutil.rmtree(workdir, ignore_errors=True)
    manifest = result.manifest
    return {
        "sha256": result.ids.sha256,
        "cid": result.ids.cid_v1,
        "cid_v0": result.ids.cid_v0,
        "size_bytes": result.ids.size,
        "mime": result.mime,
        "manifest": {
            "state": manifest.state,
            "failures": manifest.failures,
            "signer": manifest.signer,
            "issuer": manifest.issuer,
            "digital_source_type": manifest.digital_source_type,
            "generation": manifest.generation,
        },
        "known_artifact": result.known,
    }
