"""Following a film while it is made: one loop for the API's event stream and the viewer
page's, with one cap on how many are open (a film's page is public, so its followers are
bounded: each polls the database)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable

from atelier.core.errors import ServiceUnavailable
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.films import movies
from atelier.films.schemas import MovieOut
from atelier.identity.principal import Principal

POLL_S = 1.0
MAX_S = 1800.0  # a follower reconnects after this (EventSource does by itself)
KEEP_ALIVE_S = 15.0
MAX_FOLLOWERS = 200  # open streams per process; the next one gets a 503
ENDED = ("completed", "failed")
_followers = 0


async def snapshot(runtime: Runtime, movie_id: uuid.UUID, viewer: Principal | None) -> MovieOut:
    async with unit_of_work(runtime) as session:
        return MovieOut.of(await movies.view(session, movie_id, viewer))


def follow(
    runtime: Runtime,
    first: MovieOut,
    disconnected: Callable[[], Awaitable[bool]],
    viewer: Principal | None,
) -> AsyncGenerator[MovieOut | None, None]:
    """The film on every change (None: nothing changed for a while, say something to keep
    the connection), until it ends or the follower leaves. 503 when too many follow."""
    if _followers >= MAX_FOLLOWERS:
        raise ServiceUnavailable(
            "too many viewers follow films right now", slug="too-many-watchers"
        )
    return _changes(runtime, first, disconnected, viewer)


async def _changes(
    runtime: Runtime,
    current: MovieOut,
    disconnected: Callable[[], Awaitable[bool]],
    viewer: Principal | None,
) -> AsyncGenerator[MovieOut | None, None]:
    global _followers
    _followers += 1  # counted once the stream runs: a stream never started holds no place
    try:
        last, quiet = None, 0.0
        for _ in range(int(MAX_S / POLL_S)):
            if await disconnected():
                return
            marker = (current.status, current.progress, current.stage, current.steps)
            if marker != last:
                last, quiet = marker, 0.0
                yield current
                if current.status in ENDED:
                    return
            elif quiet >= KEEP_ALIVE_S:
                quiet = 0.0
                yield None
            await asyncio.sleep(POLL_S)
            quiet += POLL_S
            current = await snapshot(runtime, current.id, viewer)
    finally:
        _followers -= 1
