"""The composition root: builds a process's runtime and the FastAPI app for some services."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_network
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import atelier
from atelier.analytics import metrics as product_metrics
from atelier.analytics import service as analytics
from atelier.core import migrate
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import ServiceUnavailable
from atelier.core.http import (
    HttpPolicy,
    RequestContextMiddleware,
    UploadLimit,
    install_problem_handlers,
    runtime_of,
)
from atelier.core.limits import pin_recursion_limit
from atelier.core.logging import get_logger
from atelier.core.modules import load
from atelier.core.runtime import Runtime
from atelier.core.startup import close_runtime, open_runtime
from atelier.core.transactions import unit_of_work
from atelier.films.scripts import MAX_UPLOAD_BYTES as MAX_SCRIPT_UPLOAD
from atelier.server.modules import task_blueprints
from atelier.server.openapi import install_problem_openapi
from atelier.server.services import SERVICES, mounts_for, routers_for

# The collector's thresholds for a serving process. CPython's defaults (700, 10, 10) made a
# full collection every few seconds once a thousand clients followed events, each walking
# every connection's objects for 0.3 s while no event went out (decision 0023). Young
# collections every 50,000 net allocations let a request's or an event's objects die first,
# so few reach the old generation and full collections are rare.
GC_THRESHOLDS = (50_000, 20, 20)


def settle_collector() -> None:
    """Once a serving process has imported and built what it keeps (its runtime, its app):
    those objects leave the collector's sight (a full collection no longer walks the chain
    libraries' objects), and collections follow `GC_THRESHOLDS`."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


log = get_logger("atelier.server")


# The provenance service's file endpoints (the seed's routes, at the root).
PROVENANCE_UPLOADS = ("/verify", "/audit", "/index", "/embed")
# Routes workers poll: a success there is logged at debug only.
POLLED = ("/api/v1/workers/pop", "/api/v1/workers/heartbeat", "/health", "/ready", "/metrics")
# Routes whose answers carry credentials (tokens, a new API key).
CREDENTIALS = ("/api/v1/auth/", "/api/v1/user/api-keys")
ENVELOPE_SLACK = 1_048_576  # the multipart envelope around an uploaded file


def http_policy(settings: Settings) -> HttpPolicy:
    """Whole media files come in on the upload routes; each handler enforces the exact limit
    while streaming, the slack is for the multipart envelope."""
    anonymous = settings.anonymous_upload_bytes + ENVELOPE_SLACK
    uploads = [
        UploadLimit(
            "/api/v1/workers/jobs/", settings.grid_max_result_bytes + ENVELOPE_SLACK, ENVELOPE_SLACK
        ),
        *(
            UploadLimit(p, settings.max_verify_bytes + ENVELOPE_SLACK, anonymous)
            for p in PROVENANCE_UPLOADS
        ),
        UploadLimit("/api/scripts", MAX_SCRIPT_UPLOAD + ENVELOPE_SLACK, ENVELOPE_SLACK),
    ]
    return HttpPolicy(
        max_body_bytes=settings.max_body_bytes,
        uploads=tuple(uploads),
        trusted_proxies=tuple(ip_network(p, strict=False) for p in settings.trusted_proxies),
        quiet_prefixes=POLLED,
        no_store_prefixes=CREDENTIALS,
    )


def create_app(
    settings: Settings,
    *,
    services: list[str] | None = None,
    database_url: str | None = None,
    runtime: Runtime | None = None,
) -> FastAPI:
    """An ASGI app serving `services` (all when None).

    Pass `runtime` to share one already open (the CLI's `up` does, so the task worker and
    the API use one pool); otherwise the app opens its own at startup and closes it at exit.
    """
    names = list(SERVICES) if services is None else services
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise ValueError(f"unknown services: {', '.join(unknown)}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            yield
            return
        opened = await open_runtime(settings, database_url, blueprints=task_blueprints())
        app.state.runtime = opened
        settle_collector()
        try:
            yield
        finally:
            await close_runtime(opened)

    app = FastAPI(
        title="Atelier",
        version=atelier.__version__,
        description="Open, self-hostable platform for AI-made media. Errors are RFC 9457 "
        "problem+json documents whose `type` is a stable `/problems/<slug>`.",
        lifespan=lifespan,
    )
    app.state.services = names
    if runtime is not None:
        app.state.runtime = runtime
    app.state.head_revision = migrate.head_revision()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, policy=http_policy(settings))
    routers = routers_for(names)
    for router in routers:
        app.include_router(router)
    for path, target in mounts_for(names):
        app.mount(path, load(target))
    pin_recursion_limit()  # the routers' imports (py-evm, py_ecc) raise it for the process
    install_problem_openapi(app, routers)
    _add_operational_routes(app)
    return app


def _add_operational_routes(app: FastAPI) -> None:
    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness: the process answers."""
        return {
            "status": "healthy",
            "service": "atelier",
            "services": request.app.state.services,
            "version": atelier.__version__,
        }

    @app.get("/ready", tags=["ops"])
    async def ready(request: Request) -> JSONResponse:
        """Readiness: the database answers and its schema is at this code's migration head."""
        runtime = runtime_of(request)
        try:
            current = await migrate.schema_revision(runtime.engine)
        except Exception as exc:
            raise ServiceUnavailable(f"database is not reachable: {type(exc).__name__}") from None
        expected = request.app.state.head_revision
        if current != expected:
            raise ServiceUnavailable(
                f"database schema is at {current}, code expects {expected}; "
                "run `atelier db upgrade`",
                slug="schema-out-of-date",
            )
        return JSONResponse({"status": "ready", "schema": current})

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if product_metrics.due():
            async with unit_of_work(runtime_of(request)) as session:
                today = await analytics.on(session, now_utc().date())
            product_metrics.show(today)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
