"""What the camera node's three services share: one FastAPI app shape (problem+json errors,
request ids, a small body cap), the service-token check, and the HTTP client each one uses to
reach the others. The node imports no platform domain code: it talks to the platform, and
its services to each other, over HTTP only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request

from atelier.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from atelier.core.http import HttpPolicy, RequestContextMiddleware, install_problem_handlers
from atelier.core.logging import get_logger

log = get_logger("atelier.camera")

MAX_BODY_BYTES = 64 * 1024  # a 128-number template as JSON is ~3 KB; nothing sends more


@contextlib.asynccontextmanager
async def every(
    period_s: float, work: Callable[[], Awaitable[None]], *, name: str
) -> AsyncIterator[None]:
    """Run `work` every `period_s` seconds while the block lasts (a service's lifespan). A
    round that fails is logged and the next one runs: a full disk or a peer that is down
    for a while must not end expiry or session sync for good."""

    async def forever() -> None:
        while True:
            try:
                await work()
            except Exception as exc:  # any failure of one round; the loop goes on
                log.warning("camera.round_failed", work=name, error=str(exc)[:200])
            await asyncio.sleep(period_s)

    task = asyncio.create_task(forever(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def edge_app(title: str, description: str) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1")
    install_problem_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        policy=HttpPolicy(
            max_body_bytes=MAX_BODY_BYTES,
            quiet_prefixes=("/api/health", "/api/status", "/api/gesture", "/api/session/active"),
            no_store_prefixes=("/api/",),
        ),
    )
    return app


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


_BY_STATUS: dict[int, type[AppError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: TooManyRequests,
}


def peer_error(status: int, body: dict[str, Any]) -> AppError:
    """Another service of the node refused a request: the caller gets its problem, same
    status class and slug (anything unexpected reads as that service being unavailable)."""
    slug = str(body.get("type", "")).rsplit("/", 1)[-1] or None
    detail = str(body.get("detail") or body.get("title") or "refused")[:500]
    kind = _BY_STATUS.get(status, ServiceUnavailable)
    return kind(detail, slug=slug)


class Peer:
    """One of the node's other services, over HTTP, with the service token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        name: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "atelier-camera"},
            timeout=15.0,
            transport=transport,
        )

    async def call(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the {self.name} does not answer ({exc})") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:200]}
            raise peer_error(response.status_code, body if isinstance(body, dict) else {})
        return response.json() if response.content else None

    async def close(self) -> None:
        await self._http.aclose()


def unauthorized(
    detail: str = "this service answers the camera node's own services only",
) -> Unauthorized:
    return Unauthorized(detail, slug="service-token-required")
