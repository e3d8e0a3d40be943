"""Operational endpoints and the HTTP contract shared by every route."""

from __future__ import annotations

import httpx

from atelier.core import migrate
from atelier.core.runtime import Runtime


async def test_health_ready_metrics_docs(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert "grid" in health.json()["services"]

    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["schema"] == migrate.head_revision()

    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "atelier_http_requests_total" in metrics.text

    docs = await client.get("/docs")
    assert docs.status_code == 200
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/v1/auth/register", "/api/v1/auth/siwe", "/api/v1/user/api-keys"):
        assert path in spec["paths"]


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "trace-abc-12345"})
    assert given.headers["x-request-id"] == "trace-abc-12345"
    hostile = await client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert hostile.headers["x-request-id"] != "bad id\nwith newline"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "/problems/not-found"
    wrong_method = await client.delete("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "/problems/method-not-allowed"


async def test_oversized_body_is_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    too_big = b'{"email": "' + b"a" * runtime.settings.max_body_bytes + b'"}'
    declared = await client.post(
        "/api/v1/auth/register", content=too_big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["type"] == "/problems/payload-too-large"

    async def chunks():  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b"a" * 65536

    streamed = await client.post(
        "/api/v1/auth/register", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_ready_reports_an_old_schema(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    expected = app.state.head_revision
    app.state.head_revision = "9999"
    try:
        stale = await client.get("/ready")
    finally:
        app.state.head_revision = expected
    assert stale.status_code == 503
    assert stale.json()["type"] == "/problems/schema-out-of-date"
