"""HTTP plumbing shared by every service: problem+json, request ids, limits, metrics.
Domain routers import from here (and `unit_of_work` from core.transactions), never from each
other."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

import psycopg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atelier.core.errors import PROBLEM_JSON, AppError, InvalidInput, PayloadTooLarge, problem_body
from atelier.core.limits import MAX_JSON_DEPTH, json_nesting_depth
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime

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


def runtime_of(request: HTTPConnection) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


_FORWARDED = ("x-forwarded-for", "forwarded", "x-real-ip")


def on_this_machine(request: Request) -> bool:
    """The request comes from a loopback address (what the embedded chains' RPC serve) and
    not through a proxy: a request naming a forwarded client is someone else's, even when a
    proxy on this machine hands it over (without ATELIER_TRUSTED_PROXIES, every proxied
    request would look local)."""
    if any(name in request.headers for name in _FORWARDED):
        return False
    host = request.client.host if request.client else None
    try:
        return host is not None and ip_address(host).is_loopback
    except ValueError:
        return False


async def json_rpc_calls(request: Request, limit: int = 100) -> tuple[list[dict[str, Any]], bool]:
    """A JSON-RPC request's calls (one, or a batch of at most `limit`), each with a method;
    and whether it came as a batch (the answer then is a list too)."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("a JSON-RPC request body is JSON", slug="invalid-json-rpc") from None
    calls = body if isinstance(body, list) else [body]
    if (
        not calls
        or len(calls) > limit
        or not all(isinstance(c, dict) and isinstance(c.get("method"), str) for c in calls)
    ):
        raise InvalidInput(f"each call (at most {limit}) needs a method", slug="invalid-json-rpc")
    return calls, isinstance(body, list)


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
        raw = exc.errors()
        broken = next((e for e in raw if e.get("type") == "json_invalid"), None)
        if broken is not None:
            where = broken.get("loc", ("body", 0))[-1]
            reason = (broken.get("ctx") or {}).get("error", "malformed")
            body = problem_body(
                422,
                "invalid-json",
                "Invalid JSON",
                f"the body is not valid JSON: {reason} at character {where}",
                request.url.path,
            )
            return _problem(422, body)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in raw
        ]
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or e["loc"][0] for e in errors})
        body = problem_body(
            422,
            "invalid-input",
            "Invalid input",
            "invalid fields: " + ", ".join(fields),
            request.url.path,
            {"errors": errors},
        )
        return _problem(422, body)

    async def unstorable(request: Request, exc: Exception) -> JSONResponse:
        """The database refused a value (out of range, NUL in text): input the schemas let
        through. Logged as a gap to close in the schemas; the caller gets a 422, not a 500."""
        log.error("http.unvalidated_input", path=request.url.path, error=str(exc)[:300])
        body = problem_body(
            422,
            "invalid-input",
            "Invalid input",
            "a value in the request cannot be stored (out of range, or text with a NUL)",
            request.url.path,
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
    app.add_exception_handler(sqlalchemy.exc.DataError, unstorable)
    app.add_exception_handler(psycopg.DataError, unstorable)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


@dataclass(frozen=True)
class UploadLimit:
    """A larger body limit for the routes under `prefix` (whole media files), and a smaller
    one for callers who send no credentials there."""

    prefix: str
    signed_in: int
    anonymous: int


@dataclass(frozen=True)
class HttpPolicy:
    """What the middleware enforces on every request, from the settings."""

    max_body_bytes: int
    uploads: tuple[UploadLimit, ...] = ()
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    # successful requests here are logged at debug: workers poll them every second or two
    quiet_prefixes: tuple[str, ...] = ()
    # responses here carry credentials: never stored by a cache
    no_store_prefixes: tuple[str, ...] = ()


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def forwarded_client(
    peer: str | None, forwarded_for: str | None, trusted: tuple[IPv4Network | IPv6Network, ...]
) -> str | None:
    """The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    address in X-Forwarded-For that is not a trusted proxy (everything left of it could have
    been written by the client itself)."""
    if peer is None or not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    nearest = peer
    for hop in reversed(hops):
        try:
            ip_address(hop)
        except ValueError:
            return nearest  # garbage from further away: stop at the last hop we can trust
        if not _is_trusted(hop, trusted):
            return hop
        nearest = hop
    return nearest


def _is_trusted(address: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class RequestContextMiddleware:
    """Request id (taken from X-Request-ID when sane), the client's address behind trusted
    proxies, security headers, body caps and the JSON nesting bound, access log, metrics."""

    def __init__(self, app: ASGIApp, policy: HttpPolicy) -> None:
        self.app = app
        self.policy = policy

    def _limit_for(self, path: str, headers: dict[str, str]) -> int:
        for upload in self.policy.uploads:
            if path.startswith(upload.prefix):
                return upload.signed_in if "authorization" in headers else upload.anonymous
        return self.policy.max_body_bytes

    def _resolve_client(self, scope: Scope, headers: dict[str, str]) -> None:
        """The client's own address in `scope["client"]` (a trusted proxy's forwarded one)."""
        if scope.get("client") and self.policy.trusted_proxies:
            peer, port = scope["client"]
            client = forwarded_client(
                peer, headers.get("x-forwarded-for"), self.policy.trusted_proxies
            )
            scope["client"] = (client, port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._resolve_client(scope, headers)  # WebSockets too: their streams are capped by it
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        no_store = scope["path"].startswith(self.policy.no_store_prefixes)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                present = {k.lower() for k, _ in message["headers"]}
                message["headers"].append((b"x-request-id", request_id.encode()))
                # the time this process took to answer (browsers' dev tools and the page
                # benchmark read it); a client can time us anyway
                took_ms = (time.perf_counter() - started) * 1000
                message["headers"].append((b"server-timing", f"app;dur={took_ms:.2f}".encode()))
                message["headers"].extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if no_store and b"cache-control" not in present:
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        try:
            limit = self._limit_for(scope["path"], headers)
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._refuse(scope, send_wrapper, PayloadTooLarge(_too_large(limit)))
                return
            content_type = headers.get("content-type", "").lower()
            if content_type.startswith(_FORM_TYPES):
                await self.app(scope, self._capped(receive, limit), send_wrapper)
                return
            # Anything else may reach a JSON parser (FastAPI parses a body without a content
            # type as JSON): read it whole, within the JSON cap (files come as forms), and
            # measure it first.
            limit = min(limit, self.policy.max_body_bytes)
            body = await _read_body(receive, limit)
            if body is None:
                await self._refuse(scope, send_wrapper, PayloadTooLarge(_too_large(limit)))
                return
            if json_nesting_depth(body) > MAX_JSON_DEPTH:
                problem = InvalidInput(
                    f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                    slug="invalid-json",
                )
                await self._refuse(scope, send_wrapper, problem)
                return
            await self.app(scope, _replay(body, receive), send_wrapper)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            status = status_holder["status"]
            HTTP_REQUESTS.labels(scope["method"], route_path, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], route_path).observe(elapsed)
            quiet = status < 400 and scope["path"].startswith(self.policy.quiet_prefixes)
            (log.debug if quiet else log.info)(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status,
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
                    raise StarletteHTTPException(413, _too_large(limit))
            return message

        return wrapped

    async def _refuse(self, scope: Scope, send: Send, error: AppError) -> None:
        response = _problem(error.status, error.problem(scope["path"]), error.headers)
        await response(scope, _empty_receive, send)


def _too_large(limit: int) -> str:
    return f"request body exceeds {limit} bytes"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the app the body already read, then the connection's own messages (disconnect)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
