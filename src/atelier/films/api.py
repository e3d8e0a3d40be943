"""Vividverse's routes: submit a screenplay (JSON, or a Fountain, PDF or text file), list
them, read one with its parsed structure; validations, scores and rounds; films of the
selected script (cost, start, progress, events, files)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from atelier.core import realtime
from atelier.core.errors import InvalidInput
from atelier.core.http import runtime_of
from atelier.core.schemas import Instant
from atelier.core.transactions import unit_of_work
from atelier.films import flows as film_flows
from atelier.films import movies, reading, scripts, service, watching
from atelier.films.models import ScriptStatus
from atelier.films.schemas import (
    MovieIn,
    MovieOut,
    ProgressIn,
    RoundIn,
    RoundOut,
    ScoreOut,
    ScriptDetailOut,
    ScriptIn,
    ScriptOut,
    ValidationIn,
    ValidationOut,
)
from atelier.identity.deps import (
    CurrentPrincipal,
    OptionalPrincipal,
    limit_writes,
    require_role,
)
from atelier.identity.principal import Principal

router = APIRouter(prefix="/api", tags=["films"])


async def _body(request: Request) -> tuple[ScriptIn, bool]:
    """The submission: JSON `{text, title?, format?}` (within the platform's JSON cap, 1 MiB
    by default: a feature in Fountain is ~150 KB), or multipart with a `file` of at most
    `MAX_UPLOAD_BYTES` (a PDF carries its fonts) and optional `title` and `format`; and
    whether it came as a PDF."""
    fields: dict[str, Any]
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("a multipart submission has a `file` field", slug="no-file")
        read = await reading.read_upload(
            runtime_of(request), await upload.read(scripts.MAX_UPLOAD_BYTES + 1)
        )
        if read.from_pdf:
            title = form.get("title")
            chosen = title if isinstance(title, str) and title else read.title
            return ScriptIn(text=read.text, title=chosen, format="text"), True
        fields = {"text": read.text}
        for name in ("title", "format"):
            value = form.get(name)
            if isinstance(value, str) and value:
                fields[name] = value
        if "format" not in fields and (upload.filename or "").lower().endswith(".fountain"):
            fields["format"] = "fountain"
    else:
        try:
            fields = json.loads(await request.body())
        except ValueError:
            raise InvalidInput("the body is not JSON", slug="invalid-json") from None
    try:
        return ScriptIn.model_validate(fields), False
    except ValidationError as exc:  # answered like any body FastAPI validates
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None


@router.post(
    "/scripts",
    response_model=ScriptDetailOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_writes)],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": ScriptIn.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "title": {"type": "string"},
                            "format": {"type": "string", "enum": ["fountain", "text", "auto"]},
                        },
                        "required": ["file"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def submit_script(request: Request, principal: CurrentPrincipal) -> ScriptDetailOut:
    """Submit a screenplay (Vividverse's script portal): parsed, hashed and compared with
    every other; status `pending_validation`. A repeat is flagged `duplicate_of`, a near
    copy `similar_to` (with its similarity), never refused: the validators decide."""
    body, from_pdf = await _body(request)
    prepared = await anyio.to_thread.run_sync(
        partial(
            scripts.prepare,
            body.text,
            body.format,
            body.title,
            from_pdf=from_pdf,
        )
    )
    async with unit_of_work(runtime_of(request)) as session:
        return ScriptDetailOut.of(await service.submit(session, principal.user_id, prepared))


@router.get("/scripts", response_model=list[ScriptOut])
async def list_scripts(
    request: Request,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[Instant | None, Query(description="created_at of the last item seen")] = None,
    status_filter: Annotated[ScriptStatus | None, Query(alias="status")] = None,
) -> list[ScriptOut]:
    """Scripts, newest first, a page at a time."""
    async with unit_of_work(runtime_of(request)) as session:
        page = await service.page(session, limit, before, status_filter)
    return [ScriptOut.of(s) for s in page]


@router.get("/scripts/{script_id}", response_model=ScriptDetailOut)
async def get_script(
    script_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> ScriptDetailOut:
    """A script with its parsed structure and its speaking characters."""
    async with unit_of_work(runtime_of(request)) as session:
        return ScriptDetailOut.of(await service.get(session, script_id, principal))


@router.post(
    "/validations",
    response_model=ValidationOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_writes)],
)
async def submit_validation(
    body: ValidationIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("validator"))],
) -> ValidationOut:
    """A validator's scores of a script on the rubric (Vividverse's validator dashboard):
    one per validator and script, a later one replacing it while scoring is open; 403 for
    the script's author, 409 once scoring has closed."""
    async with unit_of_work(runtime_of(request)) as session:
        validation = await service.validate(
            session, principal.user_id, body.script_id, body.scores, body.comments
        )
        return ValidationOut.of(validation)


@router.get("/scripts/{script_id}/score", response_model=ScoreOut)
async def script_score(
    script_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> ScoreOut:
    """The script's scores: raw mean, Bayesian average and bias-calibrated mean per
    criterion and overall, the number of validations, and the validators' agreement."""
    async with unit_of_work(runtime_of(request)) as session:
        return ScoreOut.of(script_id, await service.score(session, script_id, principal))


@router.post("/rounds", response_model=RoundOut, status_code=status.HTTP_201_CREATED)
async def close_round(
    body: RoundIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("admin"))],
) -> RoundOut:
    """Close the scoring round (an admin): the rule selects one script (`selected`), the
    other pending scripts become `not_selected`, and the record keeps every candidate's
    figures so anyone can recompute the choice. 409 `no-eligible-script` changes nothing."""
    async with unit_of_work(runtime_of(request)) as session:
        return RoundOut.of(
            await service.close_round(session, principal.user_id, body.min_validations)
        )


@router.get("/rounds/{round_id}", response_model=RoundOut)
async def get_round(round_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> RoundOut:
    async with unit_of_work(runtime_of(request)) as session:
        return RoundOut.of(await service.get_selection(session, round_id))


# -- movies ---------------------------------------------------------------------------------


@router.post(
    "/movies/generate",
    response_model=MovieOut,
    responses={200: {"model": MovieOut, "description": "the same film was already costed"}},
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_writes)],
)
async def generate_movie(
    body: MovieIn, request: Request, response: Response, principal: CurrentPrincipal
) -> MovieOut:
    """Plan and cost the film of a script (jobs per kind, the grid's compute seconds and
    current ETA); with `confirm: true` also start it. An admin may film any script; its
    author, a script a round selected (403 otherwise). The same script and options give
    the same film (200)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        movie, created = await film_flows.estimate(session, runtime.settings, principal, body)
        if not created:
            response.status_code = status.HTTP_200_OK
        return MovieOut.of(await movies.view(session, movie.id, principal))


@router.post(
    "/movies/{movie_id}/start", response_model=MovieOut, dependencies=[Depends(limit_writes)]
)
async def start_movie(
    movie_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> MovieOut:
    """Confirm a costed film: its jobs go to the grid (a film already started is left as
    it is)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        await film_flows.confirm(session, principal, movie_id)
        return MovieOut.of(await movies.view(session, movie_id, principal))


@router.put("/movies/{movie_id}/progress", response_model=MovieOut)
async def report_movie_progress(
    movie_id: uuid.UUID,
    body: ProgressIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("admin"))],
) -> MovieOut:
    """The seed's progress route, for an orchestrator (admin): percent (never backwards)
    and what is being done, while the film is being made (409 otherwise)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        await movies.report_progress(session, principal, movie_id, body)
        return MovieOut.of(await movies.view(session, movie_id, principal))


@router.get("/movies", response_model=list[MovieOut])
async def list_movies(
    script_id: uuid.UUID, request: Request, viewer: OptionalPrincipal
) -> list[MovieOut]:
    """The films of a script, newest first (public: a film is made to be watched)."""
    async with unit_of_work(runtime_of(request)) as session:
        found = await movies.movies_of(session, script_id, viewer)
        return [MovieOut.of(await movies.view(session, m.id, viewer)) for m in found[:50]]


@router.get("/movies/{movie_id}", response_model=MovieOut)
async def get_movie(movie_id: uuid.UUID, request: Request, viewer: OptionalPrincipal) -> MovieOut:
    """A film: its plan and cost, each step's state, jobs per kind and state, percent
    done, and once made its video, poster and subtitles (public; the film of a script the
    moderators hid is 404 `script-hidden` but to its author and admins)."""
    async with unit_of_work(runtime_of(request)) as session:
        return MovieOut.of(await movies.view(session, movie_id, viewer))


@router.get("/movies/{movie_id}/events", response_class=StreamingResponse)
async def movie_events(
    movie_id: uuid.UUID, request: Request, viewer: OptionalPrincipal
) -> StreamingResponse:
    """Server-sent events: a `movie` event (the film as `GET /api/movies/{id}` answers) on
    every change, until the film is made or failed (public; 503 when too many follow)."""
    runtime = runtime_of(request)
    first = await watching.snapshot(runtime, movie_id, viewer)  # 404 before the stream starts
    changes = watching.follow(
        runtime,
        first,
        request.is_disconnected,
        viewer,
        realtime.client_of(request, viewer.user_id if viewer else None),
    )

    async def stream() -> AsyncIterator[bytes]:
        async with aclosing(changes):  # its place is given back however the stream ends
            async for movie in changes:
                if movie is None:
                    yield b": keep-alive\n\n"
                else:
                    yield f"event: movie\ndata: {movie.model_dump_json()}\n\n".encode()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get("/movies/{movie_id}/{name}", response_class=FileResponse)
async def movie_file(
    movie_id: uuid.UUID, name: str, request: Request, viewer: OptionalPrincipal
) -> FileResponse:
    """A made film's files: `video` (the C2PA-signed MP4, seekable with Range requests),
    `poster.jpg`, `subtitles.srt`, `subtitles.vtt` (public)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        path, media_type, filename = await movies.file_of(
            session, runtime.settings, movie_id, name, viewer
        )
    return FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        content_disposition_type="inline",
        headers={"Cache-Control": "public, max-age=3600"},
    )
