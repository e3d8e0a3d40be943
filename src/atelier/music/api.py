"""POST /api/music/style (Soulvan's DAO service, port 5300) and its read-back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.errors import NotFound
from atelier.core.http import runtime_of
from atelier.core.schemas import Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import CurrentPrincipal, limit_writes
from atelier.identity.principal import Principal
from atelier.music import service
from atelier.music.models import MusicStyle
from atelier.music.schemas import StyleIn, StyleOut

router = APIRouter(prefix="/api/music", tags=["music"])


async def _out(session: AsyncSession, principal: Principal, style: MusicStyle) -> StyleOut:
    track = await service.suggested_track(session, principal.user_id, style.genre)
    return StyleOut.of(style, track, service.generate_request(style.genre, style.mood))


@router.post("/style", response_model=StyleOut, dependencies=[Depends(limit_writes)])
async def set_style(body: StyleIn, principal: CurrentPrincipal, request: Request) -> StyleOut:
    """Map a truck style (and mood) to a music genre for one of your wallets; suggests your
    newest track in that genre, or the request that would make one."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        style = await service.set_style(
            session, runtime.settings, principal, body.wallet, body.truck_style, body.mood
        )
        return await _out(session, principal, style)


@router.get("/style", response_model=StyleOut)
async def get_style(
    principal: CurrentPrincipal,
    request: Request,
    wallet: Annotated[Text, Query(min_length=32, max_length=64)],
) -> StyleOut:
    async with unit_of_work(runtime_of(request)) as session:
        style = await service.get_style(session, principal, wallet)
        if style is None:
            raise NotFound("no style stored for that wallet of yours", slug="style-not-found")
        return await _out(session, principal, style)
