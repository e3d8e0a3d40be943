"""The analytics page (admins): each product metric per day over the last 30 days, drawn
as SVG bars on the server (no script, no CDN), with today's count and distinct people."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from atelier.analytics import service
from atelier.analytics.service import Series
from atelier.core.clock import now_utc
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.web.frame import NavItem, add_templates, redirect, render

add_templates(
    Path(__file__).parent / "templates", nav=(NavItem("Analytics", "/admin/analytics", "admin"),)
)

router = APIRouter(include_in_schema=False)
CHART_W, CHART_H = 300, 80


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


def bars(series: Series) -> list[Bar]:
    top = max(series.counts) or 1
    width = CHART_W / len(series.counts)
    out = []
    for index, (day, count) in enumerate(zip(series.days, series.counts, strict=True)):
        height = round(count / top * (CHART_H - 2), 1)
        out.append(
            Bar(
                round(index * width, 1),
                round(CHART_H - height, 1),
                round(width * 0.8, 1),
                height,
                f"{day}: {count}",
            )
        )
    return out


@router.get("/admin/analytics")
async def analytics_page(request: Request, principal: PagePrincipal) -> Response:
    if principal is None or not principal.has_role("admin"):
        return redirect(request, "/sign-in")
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        today = now_utc().date()
        live = await service.counted(session, today)  # this minute's, nothing written
        found = await service.series(session, today, live=live)
    return render(
        request,
        "analytics/analytics.html",
        who=visitor,
        series=found,
        bars={s.metric: bars(s) for s in found},
        chart_w=CHART_W,
        chart_h=CHART_H,
        today=today,
    )
