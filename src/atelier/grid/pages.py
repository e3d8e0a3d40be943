"""The grid's public page: its workers, their states (and why a worker is in maintenance),
the queue and what runs now, refreshed live by htmx."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.grid import service
from atelier.grid.schemas import ClusterOut
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.web.frame import NavItem, add_templates, render

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Grid", "/grid"),))

router = APIRouter(include_in_schema=False)


async def cluster_now(request: Request) -> ClusterOut:
    async with unit_of_work(runtime_of(request)) as session:
        workers, counts = await service.cluster(session)
    return ClusterOut.of(workers, counts)


@router.get("/grid")
async def grid_page(request: Request, principal: PagePrincipal) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
    cluster = await cluster_now(request)
    return render(request, "grid/grid.html", who=visitor, cluster=cluster)


@router.get("/grid/figures")
async def grid_figures(request: Request) -> Response:
    """The figures alone (htmx swaps them in every few seconds)."""
    return render(request, "grid/figures.html", cluster=await cluster_now(request))
