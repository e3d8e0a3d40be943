"""Signed-in sessions for the browser: the same access and refresh tokens the API hands out,
kept in HttpOnly cookies (SameSite=Lax for the access token, so a link from elsewhere opens
the dashboard signed in; Strict for the refresh token, which only sign-in pages use).

`page_principal` resolves a page's visitor: the access cookie if it is still good, else a
refresh (rotating the pair, as `POST /api/v1/auth/refresh` does), else nobody.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import authenticate, bearer, current_principal
from atelier.identity.models import User
from atelier.identity.principal import Principal
from atelier.identity.schemas import TokenPair
from atelier.identity.service import accounts, sessions
from atelier.web.frame import Visitor, on_response

ACCESS_COOKIE = "atelier_session"
REFRESH_COOKIE = "atelier_refresh"


def set_session_cookies(request: Request, response: Response, pair: TokenPair) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=pair.expires_in,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=pair.refresh_expires_in,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path="/")


async def page_principal(request: Request) -> Principal | None:
    """The signed-in visitor of a page, or None."""
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            return await authenticate(request, access)
        except AppError:
            pass
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        return None
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime) as session:
            pair = await sessions.refresh(session, runtime.settings, runtime.jwt_key, refresh)
    except AppError:
        on_response(request, clear_session_cookies)
        return None
    on_response(request, lambda response: set_session_cookies(request, response, pair))
    return await authenticate(request, pair.access_token)


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


async def connection_principal(conn: HTTPConnection) -> Principal | None:
    """The caller of a long-lived connection (a WebSocket, an event stream): its bearer
    credential (which must then be valid), else its access cookie if that is still good
    (no refresh: the connection's answer cannot set cookies), else nobody. A cookie counts
    only from our own pages (`Origin` absent or ours): a page elsewhere cannot open a
    WebSocket that acts as the visitor."""
    credential = bearer(conn)
    if credential is not None:
        return await current_principal(await authenticate(conn, credential))
    access = conn.cookies.get(ACCESS_COOKIE)
    if not access or not same_origin(conn):
        return None
    try:
        return await authenticate(conn, access)
    except AppError:
        return None


def same_origin(conn: HTTPConnection) -> bool:
    """The request comes from our own pages, or from no page at all (no `Origin`)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    ours = runtime_of(conn).settings.origin.rstrip("/")
    host = conn.headers.get("host", "")
    return origin.rstrip("/") == ours or origin.split("://", 1)[-1] == host


async def visitor_for(
    session: AsyncSession, principal: Principal | None, user: User | None = None
) -> Visitor:
    """What the site's frame shows of the visitor (its navigation depends on it); `user` when
    the page has loaded it already."""
    if principal is None:
        return Visitor()
    user = user or await accounts.get_user(session, principal.user_id)
    name = user.display_name or user.email or "you"
    return Visitor(signed_in=True, name=name, roles=principal.roles)
