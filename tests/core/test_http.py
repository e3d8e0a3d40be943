"""Operational endpoints and the HTTP contract shared by every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from atelier.core import migrate
from atelier.core.runtime import Runtime
from tests.conftest import fresh_database
from tests.servers import running_server


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


async def test_every_response_carries_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/api/v1/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert response.headers["x-frame-options"] == "DENY"
    login = await client.post(
        "/api/v1/auth/login", json={"email": "a@example.org", "password": "x"}
    )
    assert login.headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/health")).headers


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    from ipaddress import ip_network

    from atelier.core.http import forwarded_client

    proxies = (ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"))
    # a direct client cannot choose its address
    assert forwarded_client("198.51.100.9", "1.2.3.4", proxies) == "198.51.100.9"
    assert forwarded_client("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"
    # behind our proxies: the right-most hop that is not one of them
    assert forwarded_client("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3", proxies) == (
        "203.0.113.5"
    )
    assert forwarded_client("127.0.0.1", "10.1.2.3", proxies) == "10.1.2.3"
    assert forwarded_client("127.0.0.1", "not-an-ip, 10.1.2.3", proxies) == "10.1.2.3"
    assert forwarded_client("127.0.0.1", None, proxies) == "127.0.0.1"


def test_a_real_server_ignores_forged_forwarded_for(tmp_path: Path, pg_server: Any) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a client on the same host
    (or behind a same-host proxy that appends) picked a new address per request."""
    env = {"ATELIER_RATE_LIMIT_AUTH": "3/minute"}
    database_url = fresh_database(pg_server, "forwarded")  # counters of its own
    with running_server(tmp_path / "home", database_url, ["grid"], **env) as url:
        statuses = [
            httpx.post(
                f"{url}/api/v1/auth/login",
                json={"email": "x@example.org", "password": "Nope-nope-1"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(5)
        ]
    assert statuses[:3] == [401] * 3
    assert statuses[3:] == [429, 429]


async def test_anonymous_uploads_get_a_small_limit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    limit = runtime.settings.max_anonymous_upload_bytes
    big = b"\x89PNG\r\n\x1a\n" + bytes(limit + 2_000_000)
    anonymous = await client.post("/audit", files={"file": ("x.png", big, "image/png")})
    assert anonymous.status_code == 413, anonymous.text
    assert anonymous.json()["type"] == "/problems/payload-too-large"


async def test_the_openapi_document_declares_problems(client: httpx.AsyncClient) -> None:
    """It declared 422 as FastAPI's HTTPValidationError JSON and none of the 4xx sent."""
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
    ]
    generate = spec["paths"]["/api/v1/generate"]["post"]["responses"]
    assert {"401", "403", "413", "422", "429", "default"} <= set(generate)
    assert list(generate["422"]["content"]) == ["application/problem+json"]
    votes = spec["paths"]["/api/vote/{some_id}"]["get"]["responses"]
    assert {"404", "422"} <= set(votes) and "401" not in votes  # public, no credentials
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "default" in operation["responses"], (method, path)
