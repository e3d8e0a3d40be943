"""Rate limits on sign-in and write endpoints: 429 with Retry-After, shared via PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from atelier.core import ratelimit
from atelier.core.runtime import Runtime
from atelier.core.startup import close_runtime, open_runtime
from atelier.server.app import create_app
from atelier.server.modules import task_blueprints
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key
from tests.helpers import bearer, register_verified


@pytest.fixture(scope="module")
async def limited(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = make_settings(
        Path(tmp_path_factory.mktemp("home")),
        database_url,
        rate_limit_auth="5/minute",
        rate_limit_write="3/hour",
        rate_limit_worker="4/hour",
    )
    runtime = await open_runtime(settings, database_url, blueprints=task_blueprints())
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url=settings.origin) as client:
        yield client, runtime
    await close_runtime(runtime)


async def test_auth_endpoints_are_limited_per_ip(
    limited: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = limited
    statuses = []
    for _ in range(7):
        response = await client.post(
            "/api/v1/auth/login", json={"email": "x@example.org", "password": "Nope-nope-1"}
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    assert response.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_writes_are_limited_per_account(
    limited: tuple[httpx.AsyncClient, Runtime], database_url: str
) -> None:
    _, runtime = limited
    # sign up through an unlimited app on the same database, then write through the limited one
    settings = make_settings(runtime.settings.home, database_url)  # same home: same JWT key
    free_runtime = await open_runtime(settings, database_url, blueprints=task_blueprints())
    try:
        free_app = create_app(settings, runtime=free_runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=free_app), base_url=settings.origin
        ) as free:
            _, tokens = await register_verified(free, free_runtime)
    finally:
        await close_runtime(free_runtime)
    runtime_app = create_app(runtime.settings, runtime=runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime_app), base_url=runtime.settings.origin
    ) as client:
        headers = bearer(tokens["access_token"])
        codes = [
            (await client.post("/api/v1/user/api-keys", headers=headers)).status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        # reads are not limited
        assert (await client.get("/api/v1/user/api-keys", headers=headers)).status_code == 200


async def test_worker_routes_are_limited_per_account(
    limited: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """Register, heartbeat, pop and the rest were unthrottled: one write-limited account
    registered ten public workers."""
    client, runtime = limited
    _, key = await account_with_key(runtime, ["worker"])
    caps = {"kinds": ["image"], "models": ["procedural-v1"]}
    codes = [
        (
            await client.post(
                "/api/v1/workers/register", headers=bearer(key), json={"name": f"w{i}", **caps}
            )
        ).status_code
        for i in range(3)
    ] + [
        (
            await client.post("/api/v1/workers/heartbeat", headers=bearer(key), json={"name": "w0"})
        ).status_code,
        (
            await client.post(
                "/api/v1/workers/pop", headers=bearer(key), json={"name": "w0", **caps}
            )
        ).status_code,
    ]
    assert codes == [200, 200, 200, 200, 429]
    other_key = (await account_with_key(runtime, ["worker"]))[1]  # per account, not global
    other = await client.post(
        "/api/v1/workers/pop", headers=bearer(other_key), json={"name": "x", **caps}
    )
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("hits", "previous", "seconds_left", "allowed", "retry_after_s"),
    [
        (5, 0, 30.0, True, 0),  # the limit itself is allowed
        (6, 0, 20.0, False, 20),  # over within one window: wait for the next
        (1, 5, 59.9, False, 12),  # just past a boundary the last window still counts
        (1, 5, 10.0, True, 0),  # ... less and less as it slides out
    ],
)
def test_the_window_slides_across_boundaries(
    hits: int, previous: int, seconds_left: float, allowed: bool, retry_after_s: int
) -> None:
    decision = ratelimit.decide(hits, previous, seconds_left, limit=5, period_s=60)
    assert (decision.allowed, decision.retry_after_s) == (allowed, retry_after_s)


async def test_the_previous_window_is_read_from_the_database(
    limited: tuple[httpx.AsyncClient, Runtime],
) -> None:
    _, runtime = limited
    key, day = "test:sliding", 86_400
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO rate_limit_windows (key, window_start, window_end, hits) SELECT :key,"
                " to_timestamp(floor(extract(epoch FROM now()) / :day) * :day - :day),"
                " to_timestamp(floor(extract(epoch FROM now()) / :day) * :day), 1000000"
            ),
            {"key": key, "day": day},
        )
    decision = await ratelimit.hit(runtime.sessions, key, limit=5, period_s=day)
    assert not decision.allowed and decision.retry_after_s > 0
    fresh = await ratelimit.hit(runtime.sessions, "test:fresh", limit=5, period_s=day)
    assert fresh.allowed and fresh.remaining == 4
