"""Following a film while it is made: one loop for the API's event stream and the viewer
page's. The film's own events (`FilmChanged`, on the realtime bus) say when to read it
again, so an idle follower costs a subscription, not queries; a film's page is public, so
followers are still capped per process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from atelier.core import realtime
from atelier.core.errors import ServiceUnavailable
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.films import movies
from atelier.films.schemas import MovieOut
from atelier.identity.principal import Principal

MAX_S = 1800.0  # a follower reconnects after this (EventSource does by itself)
KEEP_ALIVE_S = 15.0  # also when the film is read again with no event (a flow's step names)
MAX_FOLLOWERS = 1000  # open streams per process; the next one gets a 503
TOPICS = frozenset({"films.film_changed"})
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
    client: str | None,
) -> AsyncGenerator[MovieOut | None, None]:
    """The film on every change (None: nothing changed for a while, say something to keep
    the connection), until it ends or the follower leaves. 503 when too many follow, 429
    when this one follows too many streams already."""
    if _followers >= MAX_FOLLOWERS:
        raise ServiceUnavailable(
            "too many viewers follow films right now", slug="too-many-watchers"
        )
    realtime.hub_of(runtime).admit(client)
    return _changes(runtime, first, disconnected, viewer, client)


async def _changes(
    runtime: Runtime,
    current: MovieOut,
    disconnected: Callable[[], Awaitable[bool]],
    viewer: Principal | None,
    client: str | None,
) -> AsyncGenerator[MovieOut | None, None]:
    global _followers
    _followers += 1  # counted once the stream runs: a stream never started holds no place
    about_this_film = str(current.id)
    nudged = realtime.nudges(
        runtime,
        frozenset({realtime.PUBLIC}),
        TOPICS,
        lambda payload: payload.get("movie_id") == about_this_film,
        every_s=KEEP_ALIVE_S,
        client=client,
    )
    clock = asyncio.get_running_loop().time
    until = clock() + MAX_S
    try:
        last = None
        async with aclosing(nudged):
            async for changed in nudged:
                if await disconnected() or clock() > until:
                    return
                current = await snapshot(runtime, current.id, viewer)
                marker = (current.status, current.progress, current.stage, current.steps)
                if marker != last:
                    last = marker
                    yield current
                    if current.status in ENDED:
                        return
                elif not changed:
                    yield None
    finally:
        _followers -= 1
