"""FastAPI dependencies every domain's router uses: who is calling, and may they go on.

Authentication resolves `Authorization: Bearer <jwt | atl_live_ key>` into a `Principal` in
its own short read transaction. Rate limits count per client IP on sign-in endpoints and
per principal on writes, in PostgreSQL so all API processes share them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from atelier.core import ratelimit
from atelier.core.config import parse_rate
from atelier.core.errors import Forbidden, TooManyRequests, Unauthorized
from atelier.core.http import runtime_of
from atelier.core.transactions import autocommit
from atelier.identity import tokens
from atelier.identity.principal import ClientInfo, Principal
from atelier.identity.service import api_keys, sessions


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def bearer(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized(
            "Authorization header must be 'Bearer <token or API key>'", slug="invalid-authorization"
        )
    return credential.strip()


async def authenticate(request: HTTPConnection, credential: str) -> Principal:
    runtime = runtime_of(request)
    async with autocommit(runtime) as conn:
        if tokens.looks_like_api_key(credential):
            return await api_keys.principal_from_api_key(conn, credential)
        return await sessions.principal_from_access_token(
            conn, runtime.jwt_key, runtime.settings.origin, credential
        )


async def any_principal(request: Request) -> Principal:
    """Whoever the credential names, whatever it may do (the scoped dependencies below
    decide that)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    credential = bearer(request)
    if credential is None:
        raise Unauthorized(
            "sign in first: send 'Authorization: Bearer <access token or API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await authenticate(request, credential)
    request.state.principal = principal
    return principal


async def current_principal(principal: Annotated[Principal, Depends(any_principal)]) -> Principal:
    """The caller of an ordinary route: a session, or a full-scope API key. A worker key is
    refused everywhere a route does not ask for `WorkerPrincipal`: safe by default."""
    if principal.scope == "worker":
        raise Forbidden("this API key may only run workers (its scope is worker)", slug="key-scope")
    return principal


async def worker_principal(principal: Annotated[Principal, Depends(any_principal)]) -> Principal:
    """The caller of a worker route: any credential of the worker's owner."""
    return principal


async def session_principal(principal: Annotated[Principal, Depends(any_principal)]) -> Principal:
    """The caller of a route that manages credentials (API keys, wallets): a signed-in person.
    A key that leaked from some machine cannot mint more keys or move wallets, so revoking it
    is enough."""
    if not principal.signed_in:
        raise Forbidden(
            "managing API keys and wallets needs a signed-in session (sign in with a password "
            "or a wallet), not an API key",
            slug="session-required",
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
WorkerPrincipal = Annotated[Principal, Depends(worker_principal)]
SessionPrincipal = Annotated[Principal, Depends(session_principal)]


def require_role(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(role):
            raise Forbidden(f"this needs the {role} role", slug="missing-role")
        return principal

    return check


async def _enforce(request: Request, bucket: str, rate: str, subject: str) -> None:
    runtime = runtime_of(request)
    if not runtime.settings.rate_limit_enabled:
        return
    limit, period = parse_rate(rate)
    decision = await ratelimit.hit(runtime.sessions, f"{bucket}:{subject}", limit, period)
    if not decision.allowed:
        raise TooManyRequests(
            f"too many requests; try again in {decision.retry_after_s} s",
            retry_after_s=decision.retry_after_s,
        )


async def limit_auth(request: Request) -> None:
    """Per-IP limit on sign-in and registration endpoints (credential stuffing, spam)."""
    ip = request.client.host if request.client else "unknown"
    await _enforce(request, "auth", runtime_of(request).settings.rate_limit_auth, ip)


async def limit_writes(request: Request, principal: CurrentPrincipal) -> None:
    """Per-account limit on endpoints that change state."""
    await _enforce(
        request, "write", runtime_of(request).settings.rate_limit_write, str(principal.user_id)
    )


async def limit_worker(request: Request, principal: WorkerPrincipal) -> None:
    """Per-account limit on the worker routes (polled, so generous, but not unbounded)."""
    await _enforce(
        request, "worker", runtime_of(request).settings.rate_limit_worker, str(principal.user_id)
    )


async def optional_principal(request: Request) -> Principal | None:
    """The caller if they sent credentials (which must then be valid), else None."""
    if request.headers.get("authorization") is None:
        return None
    return await current_principal(await any_principal(request))


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def limit_open_writes(request: Request, principal: OptionalPrincipal) -> None:
    """The write limit for endpoints open to anonymous callers: per account, else per IP."""
    ip = request.client.host if request.client else "unknown"
    subject = str(principal.user_id) if principal is not None else f"ip:{ip}"
    await _enforce(request, "write", runtime_of(request).settings.rate_limit_write, subject)
