"""The models page: versions per capability with their aliases, benchmark scores against the
thresholds, A/B tests with their confidence sequences plotted, the audit trail; admins check
the catalog and roll a capability back from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.engine import flows, service, suites
from atelier.engine.models import Look
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.web.frame import NavItem, add_templates, check_csrf, redirect, render

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Models", "/models"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)

PLOT_W, PLOT_H = 320, 120


@dataclass(frozen=True)
class Plot:
    """A confidence sequence as SVG geometry: the band of (challenger - champion) over the
    looks, and where zero lies."""

    band: str
    mean: str
    zero_y: float
    jobs: int


def plot(looks: list[Look]) -> Plot | None:
    if not looks:
        return None
    count = len(looks)

    def x(index: int) -> float:
        return round(index * PLOT_W / max(1, count - 1), 1)

    def y(value: float) -> float:
        return round((1 - (max(-1.0, min(1.0, value)) + 1) / 2) * PLOT_H, 1)

    upper = [f"{x(i)},{y(look.high)}" for i, look in enumerate(looks)]
    lower = [f"{x(i)},{y(look.low)}" for i, look in reversed(list(enumerate(looks)))]
    middle = [f"{x(i)},{y((look.high + look.low) / 2)}" for i, look in enumerate(looks)]
    last = looks[-1]
    return Plot(
        " ".join(upper + lower), " ".join(middle), y(0.0), last.champion_jobs + last.challenger_jobs
    )


def _bars(settings: Any) -> dict[str, list[tuple[str, str, float]]]:
    """Each capability's thresholds as (metric, relation, bar) for the scores table."""
    shown: dict[str, list[tuple[str, str, float]]] = {}
    for capability in service.CAPABILITIES:
        bars = suites.thresholds_for(capability, settings)
        rows = [
            ("psnr_db", ">", bars.min_psnr_db),
            ("ssim", ">", bars.min_ssim),
            ("lpips", "<", bars.max_lpips),
            ("fid", "<", bars.max_fid),
            ("mesh_quality", ">", bars.min_mesh_quality),
            ("texture_px", "≥", bars.min_texture_px),
        ]
        shown[capability] = [(m, r, float(b)) for m, r, b in rows if b is not None]
    return shown


async def _page(
    request: Request,
    principal: Principal | None,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        found = await service.info(session)
        offers, live = await service.capabilities(session, runtime.settings)
    named = found.aliases_by_model()
    by_capability: dict[str, list[Any]] = {}
    for version in found.versions:
        by_capability.setdefault(version.capability, []).append(version)
    return render(
        request,
        "engine/models.html",
        who=visitor,
        status_code=status_code,
        capabilities=[c for c in service.CAPABILITIES if c in by_capability or c in offers],
        versions=by_capability,
        aliases=named,
        bars=_bars(runtime.settings),
        experiments=found.experiments,
        arms=found.arms,
        plots={e.id: plot(found.looks[e.id]) for e in found.experiments},
        events=found.events[:20],
        offers=offers,
        live=live,
        is_admin=principal is not None and principal.has_role("admin"),
        errors=errors or {},
        notice=notice,
        public_actor=service.public_actor,
        plot_w=PLOT_W,
        plot_h=PLOT_H,
    )


@router.get("/models")
async def models_page(request: Request, principal: PagePrincipal) -> Response:
    return await _page(request, principal)


def _admin(principal: Principal | None) -> bool:
    return principal is not None and principal.has_role("admin")


@router.post("/models/update", dependencies=[Csrf])
async def check_now(request: Request, principal: PagePrincipal) -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime) as session:
            report = await flows.check_updates(
                session, runtime.settings, service.actor_of(principal.user_id)
            )
    except AppError as exc:
        return await _page(
            request, principal, errors={"update": exc.detail}, status_code=exc.status
        )
    notice = f"{len(report.found)} new, {len(report.rejected)} rejected"
    return await _page(request, principal, notice=f"Catalog checked: {notice}.")


@router.post("/models/{capability}/rollback", dependencies=[Csrf])
async def roll_back(capability: str, request: Request, principal: PagePrincipal) -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime) as session:
            restored, _ = await service.rollback(
                session, runtime.settings, capability, service.actor_of(principal.user_id)
            )
    except AppError as exc:
        return await _page(
            request,
            principal,
            errors={f"rollback-{capability}": exc.detail},
            status_code=exc.status,
        )
    return await _page(
        request, principal, notice=f"{capability}: {restored} is the champion again."
    )
