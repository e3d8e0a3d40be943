"""The verify page: drop any file, see its hash and CID, its C2PA manifest as c2pa validates
it (Valid, Trusted, or Invalid with its failure codes), the signer and the wallet that
signed, whether it is a known Atelier artifact, and the nearest known works."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response

from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.deps import limit_open_writes
from atelier.provenance import service
from atelier.provenance.deps import discard, receive
from atelier.provenance.schemas import verification_out
from atelier.web.frame import NavItem, add_templates, check_csrf, field_errors, render

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Verify", "/provenance/verify"),))

router = APIRouter(include_in_schema=False)


@router.get("/provenance/verify")
async def verify_page(request: Request, principal: PagePrincipal) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
    return render(request, "provenance/verify.html", who=visitor, report=None, errors={})


@router.post("/provenance/verify", dependencies=[Depends(check_csrf), Depends(limit_open_writes)])
async def verify(
    request: Request,
    principal: PagePrincipal,
    file: Annotated[UploadFile, File()],
    manifest: Annotated[UploadFile | None, File()] = None,
) -> Response:
    runtime = runtime_of(request)
    path = sidecar = None
    report = None
    errors: dict[str, str] = {}
    status_code = 200
    try:
        path = await receive(request, principal, file)
        if manifest is not None and manifest.filename:
            sidecar = await receive(request, principal, manifest)
        async with unit_of_work(runtime) as session:
            result = await service.verify(session, runtime.settings, path, sidecar)
        report = verification_out(result, sidecar is not None)
    except AppError as exc:
        errors, status_code = {"file": exc.detail}, exc.status
        errors.update({k: v for k, v in field_errors(exc).items() if k != "_"})
    finally:
        discard(path, sidecar)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
    return render(
        request,
        "provenance/verify.html",
        who=visitor,
        report=report,
        errors=errors,
        filename=file.filename,
        status_code=status_code,
    )
