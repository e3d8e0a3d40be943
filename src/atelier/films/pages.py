"""Vividverse's pages: the script portal (submit a screenplay, see every script with its
flags), a script's page (the screenplay as it was read, its scores and agreement) with the
rubric form for validators and its films, and the movie viewer (the player with subtitle
tracks, progress while the film is made, its plan and cost)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from atelier.core import realtime
from atelier.core.errors import AppError, Forbidden
from atelier.core.http import runtime_of
from atelier.core.schemas import Body
from atelier.core.transactions import unit_of_work
from atelier.films import flows as film_flows
from atelier.films import movies, reading, scoring, scripts, service, watching
from atelier.films.models import ScriptStatus
from atelier.films.schemas import MovieIn, MovieOptions, MovieOut, ScriptIn, ValidationIn
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.moderation import service as moderation
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    field_errors,
    fragment,
    redirect,
    render,
    sse_event,
)

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Films", "/films", "members"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)


async def _portal(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        listed = await service.page(session, 100, None, None)
    return render(
        request,
        "films/portal.html",
        who=visitor,
        status_code=status_code,
        scripts=listed,
        errors=errors or {},
        values=values or {},
    )


@router.get("/films")
async def portal(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _portal(request, principal)


@router.post("/films/scripts", dependencies=[Csrf])
async def submit(request: Request, principal: PagePrincipal) -> Response:
    """The portal's form: a file (Fountain, text or PDF) or the text pasted, and a title."""
    if principal is None:
        return redirect(request, "/sign-in")
    form = await request.form(max_files=1, max_fields=5)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    try:
        from_pdf = False
        fields: dict[str, Any] = {k: v for k, v in values.items() if k in ("title", "text") and v}
        if isinstance(upload, UploadFile) and upload.filename:
            read = await reading.read_upload(
                runtime_of(request), await upload.read(scripts.MAX_UPLOAD_BYTES + 1)
            )
            fields["text"], from_pdf = read.text, read.from_pdf
            fields.setdefault("title", read.title)
        body = ScriptIn.model_validate({k: v for k, v in fields.items() if v is not None})
        prepared = await anyio.to_thread.run_sync(
            partial(scripts.prepare, body.text, body.format, body.title, from_pdf=from_pdf)
        )
        async with unit_of_work(runtime_of(request)) as session:
            script = await service.submit(session, principal.user_id, prepared)
    except (ValidationError, AppError) as exc:
        return await _portal(
            request, principal, errors=field_errors(exc), values=values, status_code=422
        )
    return redirect(request, f"/films/scripts/{script.id}")


async def _script_page(
    request: Request,
    principal: Principal,
    script_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        try:
            script = await service.get(session, script_id, principal)
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
        score = await service.score(session, script_id, principal)
        hidden_case = await moderation.case_for(session, "script", str(script.id))
        films = await movies.movies_of(session, script_id, principal)
    may_validate = (
        principal.has_role("validator")
        and script.author_id != principal.user_id
        and script.status == ScriptStatus.PENDING_VALIDATION
    )
    return render(
        request,
        "films/script.html",
        who=visitor,
        status_code=status_code,
        script=script,
        elements=script.structure.get("elements", []),
        score=score,
        rubric=scoring.RUBRIC,
        may_validate=may_validate,
        may_film=movies.may_make(principal, script),
        films=films,
        hidden_case=hidden_case if hidden_case is not None and hidden_case.hidden else None,
        options=MovieOptions(),
        errors=errors or {},
        values=values or {},
    )


@router.get("/films/scripts/{script_id}")
async def script_page(request: Request, principal: PagePrincipal, script_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _script_page(request, principal, script_id)


@router.post("/films/scripts/{script_id}/appeal", dependencies=[Csrf])
async def appeal_hidden_script(
    request: Request, principal: PagePrincipal, script_id: uuid.UUID, text: str = Form("")
) -> Response:
    """The author appeals the moderators' decision about their script."""
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            script = await service.get(session, script_id, principal)
            await moderation.appeal_about(
                session, principal, "script", str(script.id), text.strip() or "-"
            )
    except AppError as exc:
        return await _script_page(
            request, principal, script_id, errors=field_errors(exc), status_code=exc.status
        )
    return redirect(request, f"/films/scripts/{script_id}")


class RubricForm(Body):
    """The rubric form's fields (each criterion a number from a select)."""

    story: int
    characters: int
    dialogue: int
    structure: int
    originality: int
    feasibility: int
    comments: str = ""


@router.post("/films/scripts/{script_id}/validation", dependencies=[Csrf])
async def validate(request: Request, principal: PagePrincipal, script_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    values = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        rubric = RubricForm.from_form(values)
        scores = rubric.model_dump(exclude={"comments"})
        body = ValidationIn(script_id=script_id, scores=scores, comments=rubric.comments)
        if not principal.has_role("validator"):
            raise Forbidden("scoring scripts needs the validator role", slug="missing-role")
        async with unit_of_work(runtime_of(request)) as session:
            await service.validate(
                session, principal.user_id, script_id, body.scores, body.comments
            )
    except (ValidationError, AppError) as exc:
        return await _script_page(
            request, principal, script_id, errors=field_errors(exc), values=values, status_code=422
        )
    return redirect(request, f"/films/scripts/{script_id}")


@router.post("/films/scripts/{script_id}/movies", dependencies=[Csrf])
async def plan_film(request: Request, principal: PagePrincipal, script_id: uuid.UUID) -> Response:
    """Plan and cost a film of the script; the viewer then shows the plan, and its Start
    button confirms it."""
    if principal is None:
        return redirect(request, "/sign-in")
    values = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    runtime = runtime_of(request)
    try:
        body = MovieIn(script_id=script_id, options=MovieOptions.from_form(values))
        async with unit_of_work(runtime) as session:
            movie, _ = await film_flows.estimate(session, runtime.settings, principal, body)
    except (ValidationError, AppError) as exc:
        return await _script_page(
            request, principal, script_id, errors=field_errors(exc), values=values, status_code=422
        )
    return redirect(request, f"/films/movies/{movie.id}")


async def _movie_page(
    request: Request,
    principal: Principal | None,
    movie_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    viewing: bool = False,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        try:
            movie = MovieOut.of(await movies.view(session, movie_id, principal))
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
        script = await service.get(session, movie.script_id, principal)
        if viewing and principal is not None and movie.status == "completed":
            # signed-in viewers only: an anonymous GET must not write (nor inflate counts)
            await movies.viewed(session, movie.id, principal)
    return render(
        request,
        "films/movie.html",
        who=visitor,
        status_code=status_code,
        movie=movie,
        script=script,
        may_start=movie.status == "estimated" and movies.may_make(principal, script),
        ended=movie.status in watching.ENDED,
        errors=errors or {},
    )


@router.get("/films/movies/{movie_id}")
async def movie_page(request: Request, principal: PagePrincipal, movie_id: uuid.UUID) -> Response:
    """The movie viewer (public: a film is made to be watched)."""
    return await _movie_page(request, principal, movie_id, viewing=True)


@router.post("/films/movies/{movie_id}/start", dependencies=[Csrf])
async def start_film(request: Request, principal: PagePrincipal, movie_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await film_flows.confirm(session, principal, movie_id)
    except AppError as exc:
        return await _movie_page(
            request, principal, movie_id, errors=field_errors(exc), status_code=exc.status
        )
    return redirect(request, f"/films/movies/{movie_id}")


@router.get("/films/movies/{movie_id}/events")
async def movie_page_events(
    request: Request, principal: PagePrincipal, movie_id: uuid.UUID
) -> Response:
    """The viewer's progress as HTML, pushed on every change until the film ends (htmx's
    SSE swap); the page reloads itself then, with the player."""
    runtime = runtime_of(request)
    first = await watching.snapshot(runtime, movie_id, principal)
    changes = watching.follow(
        runtime,
        first,
        request.is_disconnected,
        principal,
        realtime.client_of(request, principal.user_id if principal else None),
    )

    async def stream() -> AsyncIterator[bytes]:
        async with aclosing(changes):  # its place is given back however the stream ends
            async for movie in changes:
                if movie is None:
                    yield b": keep-alive\n\n"
                    continue
                yield sse_event("movie", fragment("films/movie_progress.html", movie=movie))
                if movie.status in watching.ENDED:
                    yield sse_event("done", "")
                    return

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
