"""Realtime: the outbox's client-facing events pushed to connected clients.

An event a client may see names its audience (`Event.audience()`: `"public"`,
`"user:<id>"`, `"role:admin"`); `emit` stores it on the outbox row, and a trigger on
`outbox_events` NOTIFYs the `atelier_events` channel when the row's transaction commits
(the row itself when it fits in a notification, else its id). Each API process runs one
`Hub`: one LISTEN connection and the subscribers' bounded queues, indexed by scope, so a
commit reaches every open WebSocket, SSE or Socket.IO client of that process without any
of them polling the database.

A subscriber sees an event only when one of its scopes is in the event's audience; the
scopes come from the caller's credential (`scopes_of`), never from what the client asks.
A client that reconnects passes the last id it saw and gets what it missed from the outbox
(at most `REPLAY_LIMIT` events, then live ones). A client too slow to drain its queue is cut
off (`Overflow`) rather than buffered without bound; it reconnects with its last id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import psycopg
from starlette.requests import HTTPConnection

from atelier.core import events
from atelier.core.errors import ServiceUnavailable, TooManyRequests
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work

log = get_logger("atelier.realtime")

QUEUE_SIZE = 512  # events a subscriber may lag behind before it is cut off
REPLAY_LIMIT = 500  # events a reconnecting client gets from the outbox
MAX_SUBSCRIBERS = 5000  # per process; the next one gets a 503
RECONNECT_S = 1.0
ADAPTER = "realtime.hub"
PUBLIC = "public"


@dataclass(frozen=True, eq=False)
class Delivered:
    """One event as a client sees it: its outbox id (the resume point), topic and fields."""

    id: int
    topic: str
    payload: dict[str, Any]
    audience: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "topic": self.topic, "data": self.payload}

    @cached_property
    def text(self) -> str:
        """The event as one JSON message, serialised once however many clients get it."""
        return json.dumps(self.as_json(), separators=(",", ":"))


class Overflow(Exception):
    """The subscriber fell `QUEUE_SIZE` events behind: it must reconnect from its last id."""


def client_of(conn: HTTPConnection, user_id: object | None) -> str | None:
    """Who holds a stream, for the per-client cap: the user, else their address (a trusted
    proxy's forwarded one: the HTTP policy has resolved it)."""
    if user_id is not None:
        return f"user:{user_id}"
    return f"ip:{conn.client.host}" if conn.client else None


def scopes_of(user_id: object | None, roles: Iterable[str] = ()) -> frozenset[str]:
    """What a caller may see: public events, its own, and those of its roles."""
    scopes = {PUBLIC}
    if user_id is not None:
        scopes.add(f"user:{user_id}")
        scopes.update(f"role:{role}" for role in roles)
    return frozenset(scopes)


@dataclass(eq=False)
class Subscriber:
    scopes: frozenset[str]
    topics: frozenset[str] | None  # None: every topic its scopes reach
    client: str | None = None  # who holds it (`client_of`), for the per-client cap
    active: bool = True  # until unsubscribed (once: a second call changes nothing)
    queue: asyncio.Queue[Delivered | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    overflowed: bool = False

    def wants(self, event: Delivered) -> bool:
        return self.topics is None or event.topic in self.topics

    def offer(self, event: Delivered) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            # Make room for the marker that wakes the reader to its end.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Hub:
    """One process's LISTEN connection and its subscribers."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._by_scope: dict[str, set[Subscriber]] = {}
        self._by_client: dict[str, int] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._last_id = 0

    @property
    def subscribers(self) -> int:
        return self._count

    async def started(self) -> Hub:
        """Start listening (once); returns when the LISTEN is in place."""
        if self._task is None or self._task.done():
            self._listening.clear()
            self._task = asyncio.create_task(self._listen(), name="realtime-hub")
        await asyncio.wait_for(self._listening.wait(), timeout=30)
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def admit(self, client: str | None = None) -> None:
        """Refuse a new subscriber now: 503 when the process holds as many as it may, 429
        when `client` holds as many streams as one client may (so one address cannot take
        every place)."""
        if self._count >= MAX_SUBSCRIBERS:
            raise ServiceUnavailable(
                "too many clients follow events on this server right now; try again shortly",
                slug="too-many-subscribers",
            )
        cap = self._runtime.settings.realtime_max_per_client
        if client is not None and self._by_client.get(client, 0) >= cap:
            raise TooManyRequests(
                f"you hold {cap} event streams on this server already; close one first",
                slug="too-many-streams",
                retry_after_s=5,
            )

    def subscribe(
        self, scopes: frozenset[str], topics: frozenset[str] | None, client: str | None = None
    ) -> Subscriber:
        self.admit(client)
        subscriber = Subscriber(scopes, topics, client)
        for scope in scopes:
            self._by_scope.setdefault(scope, set()).add(subscriber)
        self._count += 1
        if client is not None:
            self._by_client[client] = self._by_client.get(client, 0) + 1
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if not subscriber.active:
            return
        subscriber.active = False
        for scope in subscriber.scopes:
            members = self._by_scope.get(scope)
            if members is not None and subscriber in members:
                members.discard(subscriber)
                if not members:
                    del self._by_scope[scope]
        self._count -= 1
        if subscriber.client is not None:
            left = self._by_client.get(subscriber.client, 1) - 1
            if left > 0:
                self._by_client[subscriber.client] = left
            else:
                self._by_client.pop(subscriber.client, None)

    def publish(self, event: Delivered) -> None:
        """Hand `event` to each subscriber whose scopes reach it (once, even when several
        of its scopes do)."""
        self._last_id = max(self._last_id, event.id)
        reached: set[Subscriber] = set()
        for scope in event.audience:
            reached.update(self._by_scope.get(scope, ()))
        for subscriber in reached:
            if subscriber.wants(event):
                subscriber.offer(event)

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow_channel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: reconnect, then catch up
                log.warning("realtime.listen_lost", error=type(exc).__name__)
                await asyncio.sleep(RECONNECT_S)

    async def _follow_channel(self) -> None:
        url = self._runtime.database_url
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await events.listen(conn)
            if self._last_id:
                await self._catch_up()
            self._listening.set()
            async for note in conn.notifies():
                await self._receive(note.payload)

    async def _receive(self, raw: str) -> None:
        try:
            note = json.loads(raw)
            event_id = int(note["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("realtime.bad_notification")
            return
        if "payload" in note:
            self.publish(
                Delivered(event_id, note["topic"], note["payload"], tuple(note["audience"]))
            )
            return
        async with unit_of_work(self._runtime) as session:  # too large to notify: read it
            row = await events.stored(session, event_id)
        if row is not None:
            self.publish(Delivered(row.id, row.topic, row.payload, tuple(row.audience)))

    async def _catch_up(self) -> None:
        """Events committed while the connection was down, to the live subscribers."""
        everyone = frozenset(self._by_scope)
        if not everyone:
            return
        async with unit_of_work(self._runtime) as session:
            rows = await events.for_audience(session, self._last_id, everyone, REPLAY_LIMIT)
        for row in rows:
            self.publish(Delivered(row.id, row.topic, row.payload, tuple(row.audience)))


def hub_of(runtime: Runtime) -> Hub:
    hub = runtime.adapters.get(ADAPTER)
    if hub is None:
        hub = runtime.adapters[ADAPTER] = Hub(runtime)
    assert isinstance(hub, Hub)
    return hub


async def follow(
    runtime: Runtime,
    scopes: frozenset[str],
    *,
    topics: frozenset[str] | None = None,
    after_id: int | None = None,
    keep_alive_s: float = 15.0,
    client: str | None = None,
) -> AsyncGenerator[Delivered | None, None]:
    """The events `scopes` may see, from after `after_id` (what the outbox still has) and
    then live; None every `keep_alive_s` of quiet. Raises `Overflow` when the client lags.
    The caller's loop ends it (closing the generator unsubscribes)."""
    hub = await hub_of(runtime).started()
    subscriber = hub.subscribe(scopes, topics, client)  # before the replay: nothing is lost
    try:
        replayed: set[int] = set()
        if after_id is not None:
            async with unit_of_work(runtime) as session:
                rows = await events.for_audience(
                    session, after_id, scopes, REPLAY_LIMIT, topics=topics
                )
            for row in rows:
                replayed.add(row.id)
                yield Delivered(row.id, row.topic, row.payload, tuple(row.audience))
        while True:
            try:
                item = await asyncio.wait_for(subscriber.queue.get(), timeout=keep_alive_s)
            except TimeoutError:
                yield None
                continue
            if item is None:
                raise Overflow
            if item.id not in replayed:
                yield item
    finally:
        hub.unsubscribe(subscriber)


async def nudges(
    runtime: Runtime,
    scopes: frozenset[str],
    topics: frozenset[str],
    concerns: Callable[[dict[str, Any]], bool],
    *,
    every_s: float,
    client: str | None = None,
) -> AsyncGenerator[bool, None]:
    """For a stream that shows one thing (a job, a film): True once subscribed and each time
    an event about it commits (`concerns` its payload), so the caller reads the thing again;
    False every `every_s` regardless, for what no event announces (a queue position) and
    for the stream's keep-alive. Nothing committed after the first True is missed; a
    subscriber that lags is subscribed again, with a True (something may have been lost)."""
    hub = await hub_of(runtime).started()
    subscriber = hub.subscribe(scopes, topics, client)
    clock = asyncio.get_running_loop().time
    try:
        yield True
        due = clock() + every_s
        while True:
            try:
                item = await asyncio.wait_for(subscriber.queue.get(), max(0.0, due - clock()))
            except TimeoutError:
                due = clock() + every_s
                yield False
                continue
            if item is None:
                hub.unsubscribe(subscriber)  # its place first: the cap counts it
                subscriber = hub.subscribe(scopes, topics, client)
                yield True
            elif concerns(item.payload):
                yield True
    finally:
        hub.unsubscribe(subscriber)
