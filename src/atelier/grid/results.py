"""A worker's result, from the upload to the accepted artifact.

The steps run as separate units of work because the slow ones must hold no transaction:
what the lease expects is read (one short transaction); the upload is streamed to disk
within the size limit, checked and made canonical in the media sandbox, hashed and stored
content-addressed (no transaction); then the result is accepted with a compare-and-set on
the lease (one transaction that also emits `ArtifactAccepted`). A result refused at any
step faults the lease in a transaction of its own, and the job goes back to the queue.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import anyio

from atelier.core.errors import InvalidInput, PayloadTooLarge
from atelier.core.runtime import Runtime
from atelier.core.secrets import ensure_private_dir
from atelier.core.transactions import unit_of_work
from atelier.grid import canaries, service
from atelier.grid.models import Artifact
from atelier.grid.validation import inspect
from atelier.identity.principal import Principal
from atelier.storage.blobs import copy_stream, sha256_file, store_for
from atelier.storage.media import MediaRefused
from atelier.storage.sandbox import Budget, run_limited


@dataclass(frozen=True)
class Result:
    """What a worker sends: the file, as a stream, and what it says about it."""

    stream: BinaryIO
    content_type: str | None
    model: str
    compute_seconds: float


async def submit(
    runtime: Runtime, principal: Principal, lease_id: uuid.UUID, result: Result
) -> Artifact:
    """Check, store and accept a result for the lease; the accepted artifact.

    413 `result-too-large` past the limit, 422 `result-rejected` for a file that is not what
    the job asked for (both fault the lease), 409 for a lease no longer the worker's."""
    settings = runtime.settings
    async with unit_of_work(runtime) as session:
        expected, canary = await service.upload_context(session, settings, principal, lease_id)
    ensure_private_dir(settings.uploads_dir)
    workdir = Path(tempfile.mkdtemp(dir=settings.uploads_dir))
    try:
        upload = workdir / "upload"
        try:
            await anyio.to_thread.run_sync(
                copy_stream, result.stream, upload, settings.grid_max_result_bytes
            )
        except ValueError as exc:
            await _refuse(runtime, principal, lease_id, str(exc))
            raise PayloadTooLarge(str(exc), slug="result-too-large") from None
        try:
            media = await run_limited(
                inspect, upload, result.content_type, expected, budget=Budget.of(settings)
            )
            verdict = None
            if canary is not None:  # compared with the platform's own rendering
                reference = await anyio.to_thread.run_sync(canaries.reference, canary)
                verdict = canaries.judge(reference, media.pdq, result.model)
            digest = await anyio.to_thread.run_sync(sha256_file, media.path)
            store = store_for(settings.blobs_dir)
            key = await anyio.to_thread.run_sync(
                partial(store.put_file, media.path, sha256=digest, move=True)
            )
            async with unit_of_work(runtime) as session:
                return await service.accept(
                    session,
                    principal,
                    lease_id,
                    media,
                    sha256=digest,
                    storage_key=key,
                    compute_seconds=result.compute_seconds,
                    model=result.model,
                    verdict=verdict,
                    canary_rate=settings.grid_canary_rate,
                )
        except MediaRefused as exc:
            await _refuse(runtime, principal, lease_id, exc.reason)
            raise InvalidInput(
                f"result rejected: {exc.reason}; the job goes back to the queue",
                slug="result-rejected",
            ) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _refuse(runtime: Runtime, principal: Principal, lease_id: uuid.UUID, reason: str) -> None:
    async with unit_of_work(runtime) as session:
        await service.reject(session, runtime.settings, principal, lease_id, reason)
