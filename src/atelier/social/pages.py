"""The feed page: verified casts from the Farcaster hub, an account's or all the feed keeps,
live (new casts arrive without a reload); admins cast as the platform's account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from atelier.core import events
from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.social import service
from atelier.social.schemas import CastIn
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    field_errors,
    fragment_response,
    redirect,
    render,
)

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Feed", "/feed"),))

router = APIRouter(include_in_schema=False)


def _fid(raw: str | None) -> tuple[int | None, str | None]:
    if not raw:
        return None, None
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        return None, "an account is a number (its fid)"
    return int(raw), None


async def _page(
    request: Request,
    principal: Principal | None,
    *,
    fid_text: str | None = None,
    cursor: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    errors = dict(errors or {})
    fid, problem = _fid(fid_text)
    if problem:
        errors["fid"] = problem
        status_code = 422
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        live_after = await events.newest_id(session)
        visitor = await visitor_for(session, principal)
        try:
            page = await service.feed(session, fid=fid, cursor=cursor)
        except AppError as exc:
            errors["cursor"], status_code = exc.detail, exc.status
            page = await service.feed(session, fid=fid)
    return render(
        request,
        "social/feed.html",
        who=visitor,
        live_after=live_after,
        status_code=status_code,
        page=page,
        fid=fid_text or "",
        enabled=service.enabled(runtime.settings),
        platform_fid=runtime.settings.farcaster_fid,
        followed=service.followed(runtime.settings),
        is_admin=principal is not None and principal.has_role("admin"),
        errors=errors,
        values=values or {},
        notice=notice,
    )


@router.get("/feed")
async def feed_page(
    request: Request, principal: PagePrincipal, fid: str | None = None, cursor: str | None = None
) -> Response:
    return await _page(request, principal, fid_text=fid, cursor=cursor)


@router.get("/feed/casts")
async def feed_casts(request: Request, fid: str | None = None) -> Response:
    """The list alone (the page fetches it again when a new cast is indexed)."""
    number, _ = _fid(fid)
    async with unit_of_work(runtime_of(request)) as session:
        page = await service.feed(session, fid=number)
    return fragment_response("social/casts.html", page=page)


@router.post("/feed/cast", dependencies=[Depends(check_csrf)])
async def cast_as_platform(
    request: Request, principal: PagePrincipal, text: str = Form(""), embed: str = Form("")
) -> Response:
    if principal is None or not principal.has_role("admin"):
        return redirect(request, "/sign-in")
    values = {"text": text, "embed": embed}
    try:
        body = CastIn(text=text, embeds=[embed] if embed.strip() else [])
        settings = runtime_of(request).settings
        message = await service.post_cast(
            settings, service.hub_client(settings), body.text, list(body.embeds)
        )
    except (AppError, ValidationError) as exc:
        status = exc.status if isinstance(exc, AppError) else 422
        return await _page(
            request, principal, errors=field_errors(exc), values=values, status_code=status
        )
    return await _page(request, principal, notice=f"Cast {message['hash'][:12]}… sent to the hub.")
