"""HTTP plumbing shared by every service: units of work, problem+json, request ids, limits,
metrics. Domain routers import from here, never from each other."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atelier.core.errors import PROBLEM_JSON, AppError, problem_body
from atelier.core.events import OUTBOX_FLAG
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.core.tasks import kick_dispatcher

log = get_logger("atelier.http")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

HTTP_REQUESTS = Counter(
    "atelier_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "atelier_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@asynccontextmanager
async def unit_of_work(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed on success, rolled back on error.

    An `AppError(commit=True)` still commits (security events that must outlive the failed
    request). Events written to the outbox wake the dispatcher once the commit is durable.
    """
    async with runtime.sessions() as session:
        try:
            yield session
        except AppError as exc:
            await (session.commit() if exc.commit else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
        if session.info.pop(OUTBOX_FLAG, False):
            try:
                await kick_dispatcher(runtime.tasks)
            except Exception:  # the periodic dispatcher picks the events up anyway
                log.warning("outbox.kick_failed", exc_info=True)


def _problem(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return _problem(exc.status, exc.problem(request.url.path), exc.headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or "body" for e in errors})
        body = problem_body(
            422,
            "invalid-input",
            "Invalid input",
            "invalid fields: " + ", ".join(fields),
            request.url.path,
            {"errors": errors},
        )
        return _problem(422, body)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
            exc.status_code, "http-error"
        )
        body = problem_body(
            exc.status_code, slug, str(exc.detail), str(exc.detail), request.url.path
        )
        return _problem(exc.status_code, body, dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled", path=request.url.path, exc_info=exc)
        body = problem_body(
            500,
            "internal",
            "Internal error",
            "something went wrong on our side; the request id identifies it in our logs",
            request.url.path,
        )
        return _problem(500, body)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class RequestContextMiddleware:
    """Request id (taken from X-Request-ID when sane), access log, metrics, body-size cap."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, upload_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.upload_limits = upload_limits or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.upload_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            limit = self._limit_for(scope["path"])
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._too_large(scope, send_wrapper, limit)
                return
            await self.app(scope, self._capped(receive, limit), send_wrapper)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(scope["method"], route_path, str(status_holder["status"])).inc()
            HTTP_LATENCY.labels(scope["method"], route_path).observe(elapsed)
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status_holder["status"],
                ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    def _capped(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException passes through FastAPI's body parsing untouched.
                    raise StarletteHTTPException(413, f"request body exceeds {limit} bytes")
            return message

        return wrapped

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        body = problem_body(
            413,
            "payload-too-large",
            "Payload too large",
            f"request body exceeds {limit} bytes",
            scope["path"],
        )
        response = _problem(413, body)
        await response(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
