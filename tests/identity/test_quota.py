"""Daily quotas as atomic reservations."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from atelier.core.errors import NotFound, TooManyRequests
from atelier.core.runtime import Runtime
from atelier.identity.models import User
from atelier.identity.service import quota
from tests.helpers import bearer, register_verified


async def _user(runtime: Runtime, roles: list[str] | None = None) -> uuid.UUID:
    async with runtime.sessions() as session, session.begin():
        user = User(email=f"q-{uuid.uuid4().hex[:8]}@example.org", roles=roles or ["creator"])
        session.add(user)
        await session.flush()
        return user.id


async def _reserve(runtime: Runtime, user_id: uuid.UUID) -> uuid.UUID | None:
    try:
        async with runtime.sessions() as session, session.begin():
            reservation = await quota.reserve(session, runtime.settings, user_id, ["creator"])
            return reservation.id
    except TooManyRequests:
        return None


async def test_hundred_parallel_reservations_get_exactly_the_quota(runtime: Runtime) -> None:
    user_id = await _user(runtime)
    results = await asyncio.gather(*(_reserve(runtime, user_id) for _ in range(100)))
    granted = [r for r in results if r is not None]
    assert len(granted) == 25
    async with runtime.sessions() as session:
        usage = await quota.usage(session, runtime.settings, user_id, ["creator"])
    assert (usage.used, usage.reserved, usage.remaining) == (0, 25, 0)


async def test_commit_and_release_are_idempotent(runtime: Runtime) -> None:
    user_id = await _user(runtime)
    first, second = await _reserve(runtime, user_id), await _reserve(runtime, user_id)
    assert first
    assert second
    async with runtime.sessions() as session, session.begin():
        assert await quota.commit(session, first) is True
        assert await quota.commit(session, first) is False
        assert await quota.release(session, first) is False  # already committed
        assert await quota.release(session, second) is True
        assert await quota.release(session, second) is False
    async with runtime.sessions() as session:
        usage = await quota.usage(session, runtime.settings, user_id, ["creator"])
    assert (usage.used, usage.reserved, usage.remaining) == (1, 0, 24)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(NotFound):
            await quota.commit(session, uuid.uuid4())


async def test_exhausted_quota_says_when_it_resets(runtime: Runtime) -> None:
    user_id = await _user(runtime)
    for _ in range(25):
        assert await _reserve(runtime, user_id)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(TooManyRequests) as refused:
            await quota.reserve(session, runtime.settings, user_id, ["creator"])
    problem = refused.value.problem("/x")
    assert problem["type"] == "/problems/quota-exceeded"
    assert problem["status"] == 429
    resets_at = datetime.fromisoformat(problem["resets_at"])
    assert resets_at.tzinfo is not None
    assert resets_at > datetime.now(UTC)
    assert int(refused.value.headers["Retry-After"]) > 0


async def test_limit_per_role(runtime: Runtime) -> None:
    assert runtime.settings.quota_for_roles(["creator"]) == 25
    assert runtime.settings.quota_for_roles(["creator", "admin"]) == 1000
    admin = await _user(runtime, ["admin"])
    async with runtime.sessions() as session, session.begin():
        for _ in range(30):
            await quota.reserve(session, runtime.settings, admin, ["admin"])


async def test_usage_endpoint(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, tokens = await register_verified(client, runtime)
    usage = await client.get("/api/v1/user/usage", headers=bearer(tokens["access_token"]))
    assert usage.status_code == 200
    body = usage.json()
    assert (body["limit"], body["used"], body["reserved"], body["remaining"]) == (25, 0, 0, 25)
    assert datetime.fromisoformat(body["resets_at"]).hour == 0
    assert (await client.get("/api/v1/user/usage")).status_code == 401
