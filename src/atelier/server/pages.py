"""The site's front page: what Atelier is, with the grid's live figures."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.grid.pages import cluster_now
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.web.frame import add_templates, render

add_templates(Path(__file__).parent / "templates")

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request, principal: PagePrincipal) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        cluster = await cluster_now(session)
    return render(request, "server/home.html", who=visitor, cluster=cluster)
