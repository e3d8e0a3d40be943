"""The engine's routes (seed 000, port 5400): model info, capabilities, update check,
rollback, and generation as grid jobs. Reading the registry is public (it names models and
scores, nothing about anyone); changing it is for admins; generating needs an account and
spends its quota like any job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.engine import flows, service
from atelier.engine.schemas import (
    ArmOut,
    BackendOut,
    CapabilitiesOut,
    EventOut,
    ExperimentOut,
    ImageIn,
    KindOut,
    LookOut,
    ModelIn,
    ModelsInfoOut,
    RenderIn,
    RollbackOut,
    UpdateOut,
    VersionOut,
)
from atelier.grid.api import GENERATE_BASE, submit_job
from atelier.grid.schemas import StatusOut
from atelier.identity.deps import CurrentPrincipal, limit_writes, require_role
from atelier.identity.principal import Principal

router = APIRouter(prefix="/api", tags=["engine"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
WriteLimited = [Depends(limit_writes)]


def info_out(found: service.Info) -> ModelsInfoOut:
    champions = {c: a["champion"] for c, a in found.aliases.items() if "champion" in a}
    challengers = {c: a["challenger"] for c, a in found.aliases.items() if "challenger" in a}
    named = found.aliases_by_model()
    versions = [
        VersionOut.model_validate(v).model_copy(
            update={"aliases": sorted(named.get(v.model_id, []))}
        )
        for v in found.versions
    ]

    def arm(experiment_arms: dict[str, Any], name: str, model_id: str) -> ArmOut:
        jobs, reward_sum, failures, compute = experiment_arms.get(name, (0, 0.0, 0, None))
        mean = reward_sum / jobs if jobs else None
        return ArmOut(
            model_id=model_id,
            jobs=jobs,
            mean_reward=mean,
            failures=failures,
            mean_compute_s=compute,
        )

    experiments = [
        ExperimentOut(
            id=e.id,
            capability=e.capability,
            state=e.state,
            verdict=e.verdict,
            reason=e.reason,
            alpha=e.alpha,
            challenger_share=e.challenger_share,
            started_at=e.started_at,
            ends_at=e.ends_at,
            decided_at=e.decided_at,
            champion=arm(found.arms[e.id], service.CHAMPION, e.champion),
            challenger=arm(found.arms[e.id], service.CHALLENGER, e.challenger),
            looks=[LookOut.model_validate(look) for look in found.looks[e.id]],
        )
        for e in found.experiments
    ]
    events = [
        EventOut.model_validate(e).model_copy(update={"actor": service.public_actor(e.actor)})
        for e in found.events
    ]
    return ModelsInfoOut(
        capabilities=list(service.CAPABILITIES),
        champions=champions,
        challengers=challengers,
        versions=versions,
        experiments=experiments,
        events=events,
    )


@router.get("/models/info", response_model=ModelsInfoOut)
async def models_info(request: Request) -> ModelsInfoOut:
    """Every model version per capability with its aliases, status and benchmark scores;
    the latest A/B tests with their arms and confidence sequences; the audit trail."""
    async with unit_of_work(runtime_of(request)) as session:
        return info_out(await service.info(session))


@router.get("/capabilities", response_model=CapabilitiesOut)
async def capabilities(request: Request) -> CapabilitiesOut:
    """What the live grid can do right now: per kind, the backends live workers run, their
    models, and which one is the champion."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        by_kind, live = await service.capabilities(session, runtime.settings)
        found = await service.info(session, experiments=0, events=0)
    champions = {c: a.get("champion") for c, a in found.aliases.items()}
    kinds = [
        KindOut(
            kind=kind,
            champion=champions.get(kind),
            backends=[
                BackendOut(
                    name=offer.name,
                    models=offer.models,
                    workers=offer.workers,
                    champion=champions.get(kind) in offer.models,
                )
                for offer in offers
            ],
        )
        for kind, offers in sorted(by_kind.items())
    ]
    return CapabilitiesOut(live_workers=live, kinds=kinds)


@router.post("/models/update", response_model=UpdateOut, dependencies=WriteLimited)
async def models_update(principal: Admin, request: Request) -> UpdateOut:
    """Check the catalog now: new versions are registered (weights that do not match their
    sha256 are rejected) and benchmarked on the grid; 409 `update-check-running` while
    another check runs."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        report = await flows.check_updates(
            session, runtime.settings, service.actor_of(principal.user_id)
        )
    return UpdateOut(
        found=list(report.found),
        rejected=report.rejected,
        unreadable=report.unreadable,
        champions=report.champions,
    )


@router.post("/models/{capability}/rollback", response_model=RollbackOut, dependencies=WriteLimited)
async def models_rollback(capability: str, principal: Admin, request: Request) -> RollbackOut:
    """Restore the champion before the last change (within 7 days of it; 409
    `rollback-expired` after)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        restored, replaced = await service.rollback(
            session, runtime.settings, capability, service.actor_of(principal.user_id)
        )
    return RollbackOut(capability=capability, champion=restored, replaced=replaced)


JOB_ROUTE: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": StatusOut,
    "dependencies": WriteLimited,
}


async def _job(
    request: Request, principal: Principal, kind: str, body: ImageIn | RenderIn | ModelIn
) -> StatusOut | JSONResponse:
    """A generation route's body as a grid job of `kind` (followed at
    `/api/v1/generate/status/{id}`; `Idempotency-Key` honoured)."""
    fields = body.model_dump(exclude={"wallet"}, exclude_none=True)
    return await submit_job(
        request, principal, kind, fields, GENERATE_BASE, source="engine", wallet=body.wallet
    )


@router.post("/generate/image", **JOB_ROUTE)
async def generate_image(
    body: ImageIn, principal: CurrentPrincipal, request: Request
) -> StatusOut | JSONResponse:
    """An image job on the grid, run by the champion image model (or an A/B test's arm)
    unless `model` names a version."""
    return await _job(request, principal, "image", body)


@router.post("/render/rtx", **JOB_ROUTE)
async def render_rtx(
    body: RenderIn, principal: CurrentPrincipal, request: Request
) -> StatusOut | JSONResponse:
    """A path-traced render on the grid: Blender's Cycles on a worker that runs it (CPU, or
    OptiX/CUDA/HIP where the worker has a GPU), to PNG or EXR."""
    return await _job(request, principal, "render", body)


@router.post("/generate/3d", **JOB_ROUTE)
async def generate_3d(
    body: ModelIn, principal: CurrentPrincipal, request: Request
) -> StatusOut | JSONResponse:
    """A 3D model on the grid: a textured mesh from the prompt (or a relief of `image`) as
    glTF binary (`.glb`), its turntable preview (four Cycles renders) stored inside as the
    image named `turntable`."""
    return await _job(request, principal, "3d", body)
