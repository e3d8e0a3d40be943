"""Admin routes (the admin role): accounts, moderation, settings (masked), and the state of
indexers and the task queue with its dead letters."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from atelier.admin import service
from atelier.admin.schemas import AdminUserOut, StatusOut, UserChangeIn
from atelier.core.http import runtime_of
from atelier.core.schemas import Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import limit_writes, require_role
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.moderation import service as moderation
from atelier.moderation.schemas import CaseOut, DecideIn, HideIn

router = APIRouter(prefix="/api/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
WriteLimited = [Depends(limit_writes)]


@router.get("/users", response_model=list[AdminUserOut])
async def users(
    request: Request,
    admin: Admin,
    q: Annotated[Text | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AdminUserOut]:
    async with unit_of_work(runtime_of(request)) as session:
        return [AdminUserOut.of(u) for u in await accounts.find_users(session, q, limit)]


@router.patch("/users/{user_id}", response_model=AdminUserOut, dependencies=WriteLimited)
async def change_user(
    user_id: uuid.UUID, body: UserChangeIn, request: Request, admin: Admin
) -> AdminUserOut:
    """Roles, disabling (effective at once: every request checks), the quota override."""
    async with unit_of_work(runtime_of(request)) as session:
        user = await accounts.administer(
            session,
            admin,
            user_id,
            roles=list(body.roles) if body.roles is not None else None,
            active=body.active,
            daily_quota=body.daily_quota,
            clear_quota=body.clear_quota,
        )
        return AdminUserOut.of(user)


@router.get("/moderation", response_model=list[CaseOut])
async def cases(request: Request, admin: Admin) -> list[CaseOut]:
    """Moderation cases, open appeals first."""
    async with unit_of_work(runtime_of(request)) as session:
        return [CaseOut.of(c) for c in await moderation.queue(session)]


@router.post("/moderation", status_code=201, response_model=CaseOut, dependencies=WriteLimited)
async def hide(body: HideIn, request: Request, admin: Admin) -> CaseOut:
    """Hide an artifact, an NFT or a cast, with the reason its owner is shown."""
    async with unit_of_work(runtime_of(request)) as session:
        found = await service.hide(session, admin, body.kind, body.target_id, body.reason)
        return CaseOut.of(found)


@router.post("/moderation/{case_id}/decide", response_model=CaseOut, dependencies=WriteLimited)
async def decide(case_id: uuid.UUID, body: DecideIn, request: Request, admin: Admin) -> CaseOut:
    async with unit_of_work(runtime_of(request)) as session:
        found = await moderation.decide(
            session, admin, case_id, restore=body.restore, note=body.note
        )
        return CaseOut.of(found)


@router.get("/settings")
async def settings(request: Request, admin: Admin) -> dict[str, Any]:
    """Every setting in force; secrets only say whether they are set."""
    return service.masked_settings(runtime_of(request).settings)


@router.get("/status", response_model=StatusOut)
async def status(request: Request, admin: Admin) -> StatusOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        return StatusOut.of(await service.system_status(session, runtime))


@router.post("/dead-letters/{job_id}/retry", status_code=202, dependencies=WriteLimited)
async def retry(
    job_id: Annotated[int, Path(ge=1, le=2**62)], request: Request, admin: Admin
) -> dict[str, int]:
    await service.retry_dead_letter(runtime_of(request), job_id)
    return {"retried": job_id}
