"""Grid routes: OBSIDIAN's /api/v1/generate and /api/v1/workers/*, Soulvan's /api/jobs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from atelier.core import idempotency, realtime
from atelier.core.clock import now_utc
from atelier.core.http import runtime_of
from atelier.core.runtime import Runtime
from atelier.core.schemas import Text
from atelier.core.transactions import autocommit, unit_of_work
from atelier.grid import results, service
from atelier.grid.schemas import (
    Capabilities,
    ClusterOut,
    GenerateIn,
    HeartbeatIn,
    JobPayload,
    PopOut,
    ProgressIn,
    ReleaseIn,
    RenderJobIn,
    StatusOut,
    SubmitOut,
    WorkerOut,
)
from atelier.grid.states import TERMINAL_STATES
from atelier.identity.deps import CurrentPrincipal, WorkerPrincipal, limit_worker, limit_writes
from atelier.identity.principal import Principal
from atelier.storage.blobs import BlobStore, store_for

generate_router = APIRouter(prefix="/api/v1/generate", tags=["generate"])
jobs_router = APIRouter(prefix="/api/jobs", tags=["jobs (Soulvan)"])
workers_router = APIRouter(prefix="/api/v1/workers", tags=["workers"])

WriteLimited = [Depends(limit_writes)]
WorkerLimited = [Depends(limit_worker)]
QUEUE_REFRESH_S = 5.0  # a queued job's position, which no event of its own announces
KEEP_ALIVE_S = 15.0
JOB_TOPICS = frozenset({"grid.job_changed", "provenance.artifact_signed"})


def blob_store(runtime: Runtime) -> BlobStore:
    return store_for(runtime.settings.blobs_dir)


async def _status(
    request: Request, principal: Principal, request_id: uuid.UUID, base: str
) -> StatusOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        view = await service.status(session, runtime.settings, principal, request_id)
        return StatusOut.of(view, base)


async def submit_job(
    request: Request,
    principal: Principal,
    kind: str,
    fields: dict[str, Any],
    base: str,
    **kwargs: Any,
) -> StatusOut | JSONResponse:
    """Queue a request and answer its status, in one transaction with its Idempotency-Key."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        claim = await idempotency.claim(session, request, principal.user_id)
        if claim.replay is not None:
            return claim.replay
        created = await service.submit(session, runtime.settings, principal, kind, fields, **kwargs)
        out = StatusOut.of(
            await service.status(session, runtime.settings, principal, created.id), base
        )
        await idempotency.keep(
            session, claim, status.HTTP_202_ACCEPTED, out.model_dump(mode="json")
        )
        return out


async def _cancel(
    request: Request, principal: Principal, request_id: uuid.UUID, base: str
) -> StatusOut:
    async with unit_of_work(runtime_of(request)) as session:
        await service.cancel(session, principal, request_id)
    return await _status(request, principal, request_id, base)


async def _result(
    request: Request, principal: Principal, request_id: uuid.UUID, *, sidecar: bool = False
) -> FileResponse:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        download = await service.result_of(session, principal, request_id, sidecar=sidecar)
    headers = {"X-Atelier-Manifest": download.manifest}
    if download.sha256:
        headers |= {"ETag": f'"{download.sha256}"', "X-Content-SHA256": download.sha256}
    return FileResponse(
        blob_store(runtime).path(download.storage_key),
        media_type=download.mime,
        filename=f"{request_id}.{download.format}",
        headers=headers,
    )


def _events(
    request: Request, principal: Principal, request_id: uuid.UUID, base: str
) -> StreamingResponse:
    """Server-sent events: a `status` event on every change, until the job ends. The job's
    own events (the realtime bus) say when to read it again; its queue position, which
    moves with other people's jobs, is read again every `QUEUE_REFRESH_S`."""
    runtime = runtime_of(request)
    client = realtime.client_of(request, principal.user_id)
    realtime.hub_of(runtime).admit(client)  # a 429 or 503 now, not once the stream has begun
    scopes = realtime.scopes_of(principal.user_id, principal.roles)
    about_this_job = str(request_id)
    changes = realtime.nudges(
        runtime,
        scopes,
        JOB_TOPICS,
        lambda payload: payload.get("request_id") == about_this_job,
        every_s=QUEUE_REFRESH_S,
        client=client,
    )

    async def stream() -> AsyncIterator[bytes]:
        last, quiet = None, 0.0
        async with aclosing(changes):
            async for changed in changes:
                if not changed:
                    quiet += QUEUE_REFRESH_S
                if await request.is_disconnected():
                    return
                current = await _status(request, principal, request_id, base)
                shown = current.model_dump(mode="json")
                marker = (shown["state"], shown["progress"], shown["queue_position"])
                if marker != last:
                    last, quiet = marker, 0.0
                    yield f"event: status\ndata: {json.dumps(shown)}\n\n".encode()
                    if shown["state"] in TERMINAL_STATES:
                        return
                elif quiet >= KEEP_ALIVE_S:
                    quiet = 0.0
                    yield b": keep-alive\n\n"

    # Fail fast (404/401) before the stream starts rather than inside it.
    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


# -- OBSIDIAN: /api/v1/generate -----------------------------------------------------------------

GENERATE_BASE = "/api/v1/generate"


@generate_router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=StatusOut, dependencies=WriteLimited
)
async def generate(
    body: GenerateIn, principal: CurrentPrincipal, request: Request
) -> StatusOut | JSONResponse:
    """Queue a generation (music by default; also image, speech, video, render). Send an
    `Idempotency-Key` to retry safely: the same key answers the same job."""
    fields = body.model_dump(exclude={"kind", "priority", "wallet"})
    return await submit_job(
        request,
        principal,
        body.kind,
        fields,
        GENERATE_BASE,
        source="obsidian",
        priority=body.priority,
        wallet=body.wallet,
    )


@generate_router.get("/status/{request_id}", response_model=StatusOut)
async def generate_status(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> StatusOut:
    return await _status(request, principal, request_id, GENERATE_BASE)


@generate_router.delete("/status/{request_id}", response_model=StatusOut, dependencies=WriteLimited)
async def generate_cancel(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> StatusOut:
    return await _cancel(request, principal, request_id, GENERATE_BASE)


@generate_router.get("/status/{request_id}/events")
async def generate_events(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> StreamingResponse:
    await _status(request, principal, request_id, GENERATE_BASE)
    return _events(request, principal, request_id, GENERATE_BASE)


@generate_router.get("/{request_id}/result", response_class=FileResponse)
async def generate_result(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> FileResponse:
    """The result, C2PA-signed (409 `result-signing` while provenance signs it)."""
    return await _result(request, principal, request_id)


@generate_router.get("/{request_id}/manifest", response_class=FileResponse)
async def generate_manifest(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> FileResponse:
    """The sidecar C2PA manifest of a result that cannot embed one (OpenEXR)."""
    return await _result(request, principal, request_id, sidecar=True)


# -- Soulvan: /api/jobs -------------------------------------------------------------------------

JOBS_BASE = "/api/jobs"


@jobs_router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=StatusOut, dependencies=WriteLimited
)
async def submit_render_job(
    body: RenderJobIn, principal: CurrentPrincipal, request: Request
) -> StatusOut | JSONResponse:
    """Queue a render job (scene + camera → image). `wallet` must be linked to your account."""
    fields = {
        "prompt": f"{body.scene} | {body.camera}",
        "scene": body.scene,
        "camera": body.camera,
        "format": body.format.lower(),
        "width": body.width,
        "height": body.height,
        "seed": body.seed,
    }
    return await submit_job(
        request,
        principal,
        "render",
        fields,
        JOBS_BASE,
        source="soulvan",
        wallet=body.wallet,
        options={"sign": body.sign, "clip_embed": body.clip_embed},
    )


@jobs_router.get("/{request_id}", response_model=StatusOut)
async def job_status(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> StatusOut:
    return await _status(request, principal, request_id, JOBS_BASE)


@jobs_router.delete("/{request_id}", response_model=StatusOut, dependencies=WriteLimited)
async def job_cancel(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> StatusOut:
    return await _cancel(request, principal, request_id, JOBS_BASE)


@jobs_router.get("/{request_id}/events")
async def job_events(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> StreamingResponse:
    await _status(request, principal, request_id, JOBS_BASE)
    return _events(request, principal, request_id, JOBS_BASE)


@jobs_router.get("/{request_id}/result", response_class=FileResponse)
async def job_result(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> FileResponse:
    """The rendered result, C2PA-signed (409 `result-signing` while provenance signs it)."""
    return await _result(request, principal, request_id)


@jobs_router.get("/{request_id}/manifest", response_class=FileResponse)
async def job_manifest(
    request_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> FileResponse:
    """The sidecar C2PA manifest of an OpenEXR render."""
    return await _result(request, principal, request_id, sidecar=True)


# -- workers ----------------------------------------------------------------------------------


@workers_router.post("/register", response_model=WorkerOut, dependencies=WorkerLimited)
async def register_worker(
    body: Capabilities, principal: WorkerPrincipal, request: Request
) -> WorkerOut:
    async with unit_of_work(runtime_of(request)) as session:
        worker = await service.register_worker(
            session, runtime_of(request).settings, principal, body.model_dump()
        )
        return WorkerOut.of(worker)


@workers_router.post("/heartbeat", response_model=WorkerOut, dependencies=WorkerLimited)
async def heartbeat(body: HeartbeatIn, principal: WorkerPrincipal, request: Request) -> WorkerOut:
    async with unit_of_work(runtime_of(request)) as session:
        return WorkerOut.of(await service.heartbeat(session, principal, body.name))


@workers_router.post("/pop", response_model=PopOut, dependencies=WorkerLimited)
async def pop(body: Capabilities, principal: WorkerPrincipal, request: Request) -> PopOut:
    """Ask for work (also registers the worker and counts as a heartbeat)."""
    runtime = runtime_of(request)
    async with autocommit(runtime) as conn:
        lease = await service.pop(conn, runtime.settings, principal, body.model_dump())
    if lease.attempt_id is None:
        return PopOut(job=None, worker_id=lease.worker_id)
    assert lease.expires_at is not None
    assert lease.kind is not None
    assert lease.params is not None
    base = f"/api/v1/workers/jobs/{lease.attempt_id}"
    ttl = (lease.expires_at - now_utc()).total_seconds()
    job = JobPayload(
        lease_id=lease.attempt_id,
        job_id=lease.attempt_id,
        kind=lease.kind,
        model=lease.model,
        params=lease.params,
        expires_at=lease.expires_at,
        ttl_s=round(ttl, 1),
        submit_url=f"{base}/submit",
        progress_url=f"{base}/progress",
        release_url=f"{base}/release",
    )
    return PopOut(job=job, worker_id=lease.worker_id, retry_after_s=0)


@workers_router.get("/status", response_model=ClusterOut)
async def cluster_status(request: Request) -> ClusterOut:
    """The cluster, public: worker names, capabilities, states and stats; no owners."""
    async with unit_of_work(runtime_of(request)) as session:
        return ClusterOut.of(await service.cluster(session))


@workers_router.delete(
    "/{worker_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=WorkerLimited
)
async def unregister_worker(
    worker_id: uuid.UUID, principal: WorkerPrincipal, request: Request
) -> None:
    async with unit_of_work(runtime_of(request)) as session:
        await service.retire_worker(session, principal, worker_id)


@workers_router.post("/{worker_id}/resume", response_model=WorkerOut, dependencies=WorkerLimited)
async def resume_worker(
    worker_id: uuid.UUID, principal: WorkerPrincipal, request: Request
) -> WorkerOut:
    """Take a worker out of maintenance once its owner has fixed it."""
    async with unit_of_work(runtime_of(request)) as session:
        return WorkerOut.of(await service.resume_worker(session, principal, worker_id))


@workers_router.post(
    "/jobs/{lease_id}/progress", status_code=status.HTTP_204_NO_CONTENT, dependencies=WorkerLimited
)
async def job_progress(
    lease_id: uuid.UUID, body: ProgressIn, principal: WorkerPrincipal, request: Request
) -> None:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        await service.report_progress(session, runtime.settings, principal, lease_id, body.progress)


@workers_router.post(
    "/jobs/{lease_id}/release", status_code=status.HTTP_204_NO_CONTENT, dependencies=WorkerLimited
)
async def job_release(
    lease_id: uuid.UUID, principal: WorkerPrincipal, request: Request, body: ReleaseIn | None = None
) -> None:
    """Give a job back: shutting down (no penalty), or `failed` (counted against the worker,
    unless `cause` is `job`)."""
    body = body or ReleaseIn()
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        if body.failed:
            await service.reject(
                session,
                runtime.settings,
                principal,
                lease_id,
                body.reason,
                worker_at_fault=body.cause == "worker",
            )
        else:
            await service.release(session, principal, lease_id, body.reason)


@workers_router.post(
    "/jobs/{lease_id}/submit", response_model=SubmitOut, dependencies=WorkerLimited
)
async def job_submit(
    lease_id: uuid.UUID,
    principal: WorkerPrincipal,
    request: Request,
    file: Annotated[UploadFile, File(description="The result")],
    model: Annotated[Text, Form(min_length=1, max_length=100, description="the model that ran")],
    compute_seconds: Annotated[float, Form(ge=0, le=86_400)] = 0.0,
) -> SubmitOut:
    """Upload a result and name the model that made it. It is checked against the job
    (format, size, duration, model) and stored in its canonical form, then accepted with a
    compare-and-set: a duplicate, late or cancelled submit gets 409; an invalid file faults the
    lease (422) and the job goes back to the queue."""
    result = results.Result(file.file, file.content_type, model, compute_seconds)
    try:
        artifact = await results.submit(runtime_of(request), principal, lease_id, result)
    finally:
        await file.close()
    return SubmitOut(
        accepted=True,
        artifact_id=artifact.id,
        sha256=artifact.sha256,
        size_bytes=artifact.size_bytes,
        mime=artifact.mime,
    )
