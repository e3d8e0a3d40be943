"""Grid test helpers: accounts with API keys, workers driven through the real client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from atelier.core.clock import now_utc
from atelier.core.runtime import Runtime
from atelier.generators.registry import available_backends
from atelier.grid.client import GridClient, WorkerCapabilities
from atelier.grid.worker import WorkerLoop, capabilities_of
from atelier.identity.models import User
from atelier.identity.principal import ClientInfo
from atelier.identity.service import api_keys, sessions


async def account_with_key(
    runtime: Runtime, roles: list[str] | None = None
) -> tuple[uuid.UUID, str]:
    async with runtime.sessions() as session, session.begin():
        user = User(
            email=f"g-{uuid.uuid4().hex[:10]}@example.org",
            roles=roles or ["creator"],
            email_verified_at=now_utc(),
        )
        session.add(user)
        await session.flush()
        _, key = await api_keys.create_api_key(session, user.id, "test")
        return user.id, key


async def session_for(runtime: Runtime, user_id: uuid.UUID) -> str:
    """An access token of a fresh signed-in session of the user (what a password or wallet
    sign-in gives): managing wallets and API keys needs one, an API key will not do."""
    async with runtime.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        pair = await sessions.start_session(
            session, runtime.settings, runtime.jwt_key, user, "password", ClientInfo(None, "tests")
        )
        return pair.access_token


def asgi_client(client: httpx.AsyncClient, api_key: str) -> GridClient:
    """The real typed client, over the in-process app."""
    transport = client._transport  # the test app's ASGI transport
    return GridClient(str(client.base_url), api_key, transport=transport)


def caps(name: str, kinds: list[str] | None = None, **overrides: Any) -> WorkerCapabilities:
    backends, _ = available_backends()
    base = capabilities_of(name, backends, kinds, 4096 * 4096, 600.0)
    return WorkerCapabilities(**{**base.__dict__, **overrides})


@asynccontextmanager
async def worker_loop(
    client: httpx.AsyncClient, api_key: str, name: str, workdir: Path, **kwargs: Any
) -> AsyncIterator[WorkerLoop]:
    backends, _ = available_backends()
    grid = asgi_client(client, api_key)
    loop = WorkerLoop(grid, caps(name), backends, workdir=workdir, idle_poll_s=0.1, **kwargs)
    try:
        yield loop
    finally:
        await grid.close()
