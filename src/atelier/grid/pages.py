"""The grid's pages: the public grid (workers, states and why a worker is in maintenance,
the queue, what runs now, refreshed live), and a member's jobs: submit, watch live over the
realtime WebSocket (static/live.js), see or hear the result with its provenance, cancel,
page through."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.errors import AppError, NotFound
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.grid import service
from atelier.grid.schemas import ClusterOut, GenerateIn, StatusOut
from atelier.grid.states import TERMINAL_STATES, RequestState
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.moderation import service as moderation
from atelier.storage.blobs import store_for
from atelier.storage.gltf import glb_layout
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    csrf_token,
    field_errors,
    fragment_response,
    redirect,
    render,
)

add_templates(
    Path(__file__).parent / "templates",
    nav=(NavItem("Jobs", "/jobs", "members"), NavItem("Grid", "/grid")),
)

router = APIRouter(include_in_schema=False)


async def cluster_now(session: AsyncSession) -> ClusterOut:
    return ClusterOut.of(await service.cluster(session))


@router.get("/grid")
async def grid_page(request: Request, principal: PagePrincipal) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        cluster = await cluster_now(session)
    return render(request, "grid/grid.html", who=visitor, cluster=cluster)


@router.get("/grid/figures")
async def grid_figures(request: Request) -> Response:
    """The figures alone (htmx swaps them in every few seconds)."""
    async with unit_of_work(runtime_of(request)) as session:
        cluster = await cluster_now(session)
    return render(request, "grid/figures.html", cluster=cluster)


# -- jobs (Soulvan's JobSubmissionForm and JobStatusViewer) -----------------------------------

KINDS = ("music", "image", "speech", "video", "render", "3d")
PAGE_SIZE = 20
BASE = "/api/v1/generate"  # the API twin of these pages (the status's URLs point there)


async def _jobs_page(
    request: Request,
    principal: Principal,
    *,
    before: datetime | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        live_after = await events.newest_id(session)
        jobs = await service.history(session, principal, PAGE_SIZE, before)
        visitor = await visitor_for(session, principal)
    return render(
        request,
        "grid/jobs.html",
        who=visitor,
        live_after=live_after,
        jobs=jobs,
        kinds=KINDS,
        errors=errors or {},
        values=values or {"kind": "music"},
        next_before=jobs[-1].created_at.isoformat() if len(jobs) == PAGE_SIZE else None,
        status_code=status_code,
    )


@router.get("/jobs")
async def jobs_page(
    request: Request, principal: PagePrincipal, before: datetime | None = None
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _jobs_page(request, principal, before=before)


@router.post("/jobs", dependencies=[Depends(check_csrf)])
async def submit_job(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    runtime = runtime_of(request)
    try:
        body = GenerateIn.from_form(form)
        fields = body.model_dump(exclude={"kind", "priority", "wallet"})
        async with unit_of_work(runtime) as session:
            job = await service.submit(
                session, runtime.settings, principal, body.kind, fields, source="web"
            )
    except (ValidationError, AppError) as exc:
        errors = field_errors(exc)
        return await _jobs_page(request, principal, errors=errors, values=form, status_code=422)
    return redirect(request, f"/jobs/{job.id}")


async def _status(request: Request, principal: Principal, job_id: uuid.UUID) -> StatusOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        view = await service.status(session, runtime.settings, principal, job_id)
    return StatusOut.of(view, BASE)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, principal: PagePrincipal, job_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _job_page(request, principal, job_id)


async def _job_page(
    request: Request,
    principal: Principal,
    job_id: uuid.UUID,
    *,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        live_after = await events.newest_id(session)
        visitor = await visitor_for(session, principal)
    try:
        job = await _status(request, principal, job_id)
    except AppError as exc:
        return render(
            request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
        )
    return render(
        request,
        "grid/job.html",
        who=visitor,
        live_after=live_after,
        job=job,
        errors={"_": problem} if problem else {},
        status_code=status_code,
        **_job_context(job),
    )


def _job_context(job: StatusOut) -> dict[str, Any]:
    result = job.result or {}
    mime = str(result.get("mime") or "")
    return {
        "terminal": job.state in TERMINAL_STATES,
        "media": mime.split("/")[0] if mime else None,
        "file_url": f"/jobs/{job.id}/file" if job.state == RequestState.DONE else None,
        "preview_url": f"/jobs/{job.id}/turntable" if mime == "model/gltf-binary" else None,
    }


@router.get("/jobs/{job_id}/status")
async def job_status(request: Request, principal: PagePrincipal, job_id: uuid.UUID) -> Response:
    """The job's status as HTML, which the page fetches again on each of the job's events
    (static/live.js, over the realtime WebSocket)."""
    if principal is None:
        return redirect(request, "/sign-in")
    job = await _status(request, principal, job_id)
    context = _job_context(job)
    return fragment_response("grid/job_status.html", job=job, csrf=csrf_token(request), **context)


@router.get("/jobs/{job_id}/file")
async def job_file(request: Request, principal: PagePrincipal, job_id: uuid.UUID) -> Response:
    """The result, as the API hands it out (the signed copy), for the page's media element."""
    if principal is None:
        return redirect(request, "/sign-in")
    async with unit_of_work(runtime_of(request)) as session:
        download = await service.result_of(session, principal, job_id)
    path = store_for(runtime_of(request).settings.blobs_dir).path(download.storage_key)
    return FileResponse(path, media_type=download.mime, headers={"Cache-Control": "no-store"})


def _turntable(path: Path) -> tuple[bytes, str] | None:
    """The turntable image stored inside a 3D result (a checked GLB), if it has one."""
    data = path.read_bytes()
    layout = glb_layout(data)
    images = {name: (offset, length) for name, offset, length in layout.images}
    if "turntable" not in images:
        return None
    offset, length = images["turntable"]
    mime = next(
        str(i.get("mimeType")) for i in layout.document["images"] if i.get("name") == "turntable"
    )
    return data[offset : offset + length], mime


@router.get("/jobs/{job_id}/turntable")
async def job_turntable(request: Request, principal: PagePrincipal, job_id: uuid.UUID) -> Response:
    """A 3D result's preview: the four Cycles views stored inside its GLB."""
    if principal is None:
        return redirect(request, "/sign-in")
    async with unit_of_work(runtime_of(request)) as session:
        download = await service.result_of(session, principal, job_id)
    if download.mime != "model/gltf-binary":
        raise NotFound("this result is not a 3D model", slug="no-turntable")
    path = store_for(runtime_of(request).settings.blobs_dir).path(download.storage_key)
    found = await anyio.to_thread.run_sync(_turntable, path)
    if found is None:
        raise NotFound("this model was made without a turntable preview", slug="no-turntable")
    return Response(found[0], media_type=found[1], headers={"Cache-Control": "no-store"})


@router.post("/jobs/{job_id}/appeal", dependencies=[Depends(check_csrf)])
async def appeal_hidden_result(
    request: Request, principal: PagePrincipal, job_id: uuid.UUID, text: str = Form("")
) -> Response:
    """The owner appeals the moderators' decision about this job's result."""
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        job = await _status(request, principal, job_id)
        if job.moderation is None:
            raise NotFound("this job's result is not hidden", slug="not-hidden")
        async with unit_of_work(runtime_of(request)) as session:
            case_id = uuid.UUID(job.moderation["case_id"])
            await moderation.appeal(session, principal, case_id, text.strip() or "-")
    except AppError as exc:
        return await _job_page(
            request, principal, job_id, problem=exc.detail, status_code=exc.status
        )
    return redirect(request, f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(check_csrf)])
async def cancel_job(request: Request, principal: PagePrincipal, job_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await service.cancel(session, principal, job_id)
    except AppError as exc:  # finished meanwhile: the page says so
        return await _job_page(
            request, principal, job_id, problem=exc.detail, status_code=exc.status
        )
    return redirect(request, f"/jobs/{job_id}")
