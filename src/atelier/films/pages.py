"""Vividverse's pages: the script portal (submit a screenplay, see every script with its
flags), a script's page (the screenplay as it was read, its scores and agreement) with the
rubric form for validators."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from atelier.core.errors import AppError, Forbidden
from atelier.core.http import runtime_of
from atelier.core.schemas import Body
from atelier.core.transactions import unit_of_work
from atelier.films import reading, scoring, scripts, service
from atelier.films.models import ScriptStatus
from atelier.films.schemas import ScriptIn, ValidationIn
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.web.frame import NavItem, add_templates, check_csrf, field_errors, redirect, render

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
            script = await service.get(session, script_id)
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
        score = await service.score(session, script_id)
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
        errors=errors or {},
        values=values or {},
    )


@router.get("/films/scripts/{script_id}")
async def script_page(request: Request, principal: PagePrincipal, script_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _script_page(request, principal, script_id)


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
