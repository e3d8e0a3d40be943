"""Receiving a file to examine (the API's `/verify`, `/audit`, `/embed`, `/index` and the
verify page): streamed to a private work folder within the caller's size limit."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import anyio
from fastapi import Request, UploadFile

from atelier.core.errors import PayloadTooLarge
from atelier.core.http import runtime_of
from atelier.core.secrets import ensure_private_dir
from atelier.identity.principal import Principal
from atelier.storage.blobs import copy_stream


async def receive(request: Request, principal: Principal | None, file: UploadFile) -> Path:
    """The upload in a private work directory; signed-in callers may send more. The caller
    removes the directory (`path.parent`) when done."""
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


def discard(*received: Path | None) -> None:
    for path in received:
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)
