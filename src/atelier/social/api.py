"""Social routes: the Farcaster feed (`/api/social/…`) and, with
`ATELIER_FARCASTER_HUB_URL=embedded`, the development stand-in hub (`/farcaster/hub/v1/…`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from atelier.core.errors import Forbidden, InvalidInput, NotFound
from atelier.core.http import on_this_machine, runtime_of
from atelier.core.runtime import Runtime
from atelier.core.schemas import Int64, Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import limit_writes, require_role
from atelier.identity.principal import Principal
from atelier.social import service
from atelier.social.farcaster import MessageRefused
from atelier.social.schemas import CastIn, CastOut, FeedOut, HubStatusOut, PostedOut
from atelier.social.standin import StandinHub, submitted

router = APIRouter(prefix="/api/social", tags=["social"])
hub_router = APIRouter(prefix="/farcaster/hub/v1", tags=["farcaster stand-in hub"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
STANDIN = "social.standin"


@router.get("/feed", response_model=FeedOut)
async def feed(
    request: Request,
    fid: Annotated[Int64 | None, Query(ge=1)] = None,
    collection_id: uuid.UUID | None = None,
    cursor: Annotated[Text | None, Query(max_length=120)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> FeedOut:
    """Verified casts, newest first: one account's (`fid`), those linking one of our
    collections (`collection_id`), or all the feed keeps."""
    async with unit_of_work(runtime_of(request)) as session:
        page = await service.feed(
            session, fid=fid, collection_id=collection_id, cursor=cursor, limit=limit
        )
    casts = [
        CastOut.of(c, page.profiles.get(c.fid), page.reactions.get(c.hash)) for c in page.casts
    ]
    return FeedOut(casts=casts, next_cursor=page.next_cursor)


@router.get("/casts/{cast_hash}", response_model=CastOut)
async def cast(request: Request, cast_hash: Annotated[Text, Path(max_length=42)]) -> CastOut:
    async with unit_of_work(runtime_of(request)) as session:
        page = await service.cast(session, cast_hash)
    found = page.casts[0]
    return CastOut.of(found, page.profiles.get(found.fid), page.reactions.get(found.hash))


@router.post(
    "/casts", status_code=201, response_model=PostedOut, dependencies=[Depends(limit_writes)]
)
async def post_cast(body: CastIn, request: Request, admin: Admin) -> PostedOut:
    """Cast as the platform's account (admins; automation rules post this way too)."""
    settings = runtime_of(request).settings
    message = await service.post_cast(
        settings, service.hub_client(settings), body.text, list(body.embeds)
    )
    return PostedOut(hash=message["hash"], fid=settings.farcaster_fid, message=message)


@router.get("/hubs", response_model=list[HubStatusOut])
async def hubs(request: Request, admin: Admin) -> list[HubStatusOut]:
    """Where the indexer is in each hub's stream (admins)."""
    async with unit_of_work(runtime_of(request)) as session:
        return [HubStatusOut.of(c) for c in await service.hub_status(session)]


# -- the development stand-in hub ---------------------------------------------------------------


def standin(runtime: Runtime) -> StandinHub:
    if runtime.settings.farcaster_hub_url != service.EMBEDDED:
        raise NotFound("this server runs no stand-in hub (ATELIER_FARCASTER_HUB_URL)")
    hub = runtime.adapters.get(STANDIN)
    if hub is None:
        journal = runtime.settings.home / "farcaster" / "hub.jsonl"
        hub = runtime.adapters[STANDIN] = StandinHub(journal)
    assert isinstance(hub, StandinHub)
    return hub


def _hub(request: Request) -> StandinHub:
    return standin(runtime_of(request))


Hub = Annotated[StandinHub, Depends(_hub)]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=1000)]


@hub_router.get("/info")
async def hub_info(hub: Hub) -> dict[str, Any]:
    return hub.info()


@hub_router.get("/castsByFid")
async def hub_casts_by_fid(
    hub: Hub,
    fid: Annotated[Int64, Query(ge=1)],
    page_size: PageSize = 100,
    page_token: Annotated[Text | None, Query(alias="pageToken", max_length=20)] = None,
) -> dict[str, Any]:
    return hub.casts_by_fid(fid, page_size, page_token)


@hub_router.get("/castById")
async def hub_cast_by_id(
    hub: Hub, fid: Annotated[Int64, Query(ge=1)], hash: Annotated[Text, Query(max_length=42)]
) -> dict[str, Any]:
    found = hub.cast_by_id(fid, hash)
    if found is None:
        raise NotFound("no such cast on this hub", slug="cast-not-found")
    return found


@hub_router.get("/userDataByFid")
async def hub_user_data(hub: Hub, fid: Annotated[Int64, Query(ge=1)]) -> dict[str, Any]:
    return hub.user_data_by_fid(fid)


@hub_router.get("/events")
async def hub_events(
    hub: Hub,
    from_event_id: Annotated[Int64, Query(ge=0)] = 0,
    page_size: PageSize = 1000,
) -> dict[str, Any]:
    return hub.events(from_event_id, page_size)


@hub_router.post("/submitMessage")
async def hub_submit(request: Request, hub: Hub) -> JSONResponse:
    """A protobuf `Message`, checked as a hub checks it; from this machine only."""
    if not on_this_machine(request):
        raise Forbidden("the stand-in hub takes messages from this machine only")
    raw = await request.body()
    try:
        verified = hub.submit(submitted(raw))
    except MessageRefused as exc:
        raise InvalidInput(f"message refused: {exc}", slug="message-refused") from None
    return JSONResponse(verified.raw)
