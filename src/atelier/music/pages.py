"""Music pages (Soulvan's MusicStyleSelector, LoadMusic and MusicPreview): pick a truck style
and a mood for one of your wallets, see its genre, play your newest track in that genre, or
make one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.identity.styles import TRUCK_STYLES
from atelier.music import service
from atelier.music.schemas import StyleIn, StyleOut
from atelier.web.frame import NavItem, add_templates, check_csrf, field_errors, redirect, render

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Music", "/music", "members"),))

router = APIRouter(include_in_schema=False)


async def _page(
    request: Request,
    principal: Principal,
    *,
    chosen: StyleOut | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        user = await accounts.get_user(session, principal.user_id)
        wallets = [w.address for w in await accounts.wallets_of(session, user)]
        visitor = await visitor_for(session, principal)
    return render(
        request,
        "music/music.html",
        who=visitor,
        wallets=wallets,
        styles=TRUCK_STYLES,
        chosen=chosen,
        errors=errors or {},
        values=values or {},
        status_code=status_code,
    )


@router.get("/music")
async def music_page(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _page(request, principal)


@router.post("/music", dependencies=[Depends(check_csrf)])
async def choose_style(
    request: Request,
    principal: PagePrincipal,
    wallet: Annotated[str, Form()] = "",
    truck_style: Annotated[str, Form()] = "",
    mood: Annotated[str, Form()] = "",
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    runtime = runtime_of(request)
    values = {"wallet": wallet, "truck_style": truck_style, "mood": mood}
    try:
        body = StyleIn.from_form(values)
        async with unit_of_work(runtime) as session:
            style = await service.set_style(
                session, runtime.settings, principal, body.wallet, body.truck_style, body.mood
            )
            track = await service.suggested_track(session, principal.user_id, style.genre)
            chosen = StyleOut.of(style, track, service.generate_request(style.genre, style.mood))
    except (ValidationError, AppError) as exc:
        errors = field_errors(exc)
        return await _page(request, principal, errors=errors, values=values, status_code=422)
    return await _page(request, principal, chosen=chosen, values=values)
