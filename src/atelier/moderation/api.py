"""Moderation routes for owners: the decisions about your content, and your appeals."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import CurrentPrincipal, limit_writes
from atelier.moderation import service
from atelier.moderation.schemas import AppealIn, CaseOut

router = APIRouter(prefix="/api/moderation", tags=["moderation"])


@router.get("/mine", response_model=list[CaseOut])
async def my_cases(principal: CurrentPrincipal, request: Request) -> list[CaseOut]:
    """What admins hid of yours, why, and how any appeal went."""
    async with unit_of_work(runtime_of(request)) as session:
        return [CaseOut.of(c) for c in await service.mine(session, principal)]


@router.post(
    "/cases/{case_id}/appeal", response_model=CaseOut, dependencies=[Depends(limit_writes)]
)
async def appeal(
    case_id: uuid.UUID, body: AppealIn, principal: CurrentPrincipal, request: Request
) -> CaseOut:
    async with unit_of_work(runtime_of(request)) as session:
        return CaseOut.of(await service.appeal(session, principal, case_id, body.text))
