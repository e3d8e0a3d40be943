"""What every realtime transport shares: who the caller is, what they may follow, and the
framing of one event."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from atelier.core import realtime
from atelier.core.errors import InvalidInput
from atelier.core.http import runtime_of
from atelier.core.realtime import Delivered
from atelier.identity.cookies import connection_principal

TOPIC = re.compile(r"^[a-z_]{1,40}\.[a-z_]{1,60}$")
MAX_TOPICS = 20


def topics_of(requested: str | Iterable[str] | None) -> frozenset[str] | None:
    """The topics a client asked for (a comma-separated string or a list), checked; None
    for all of them."""
    if requested is None:
        return None
    names = requested.split(",") if isinstance(requested, str) else list(requested)
    names = [n.strip() for n in names if isinstance(n, str) and n.strip()]
    if not names:
        return None
    if len(names) > MAX_TOPICS:
        raise InvalidInput(f"follow at most {MAX_TOPICS} topics at once", slug="too-many-topics")
    bad = [n for n in names if not TOPIC.match(n)]
    if bad:
        raise InvalidInput(
            f"{bad[0][:60]!r} is not a topic (they look like grid.job_changed)",
            slug="invalid-topic",
        )
    return frozenset(names)


def resume_point(*candidates: str | int | None) -> int | None:
    """The first given last-seen event id (a query parameter, `Last-Event-ID`, a
    Socket.IO auth field), checked."""
    for value in candidates:
        if value is None or value == "":
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                "the last event id must be a whole number", slug="invalid-event-id"
            ) from None
        if not 0 <= number < 2**63:
            raise InvalidInput("the last event id is out of range", slug="invalid-event-id")
        return number
    return None


@dataclass(frozen=True)
class Follower:
    """Who opens a stream: what they may see, and whose place it takes (the per-client cap)."""

    scopes: frozenset[str]
    client: str | None


async def follower_of(conn: HTTPConnection) -> Follower:
    """The caller (checked against the per-client cap now: a 429 before the stream starts)."""
    principal = await connection_principal(conn)
    if principal is None:
        follower = Follower(realtime.scopes_of(None), realtime.client_of(conn, None))
    else:
        scopes = realtime.scopes_of(principal.user_id, principal.roles)
        follower = Follower(scopes, realtime.client_of(conn, principal.user_id))
    realtime.hub_of(runtime_of(conn)).admit(follower.client)
    return follower


def follow(
    conn: HTTPConnection,
    follower: Follower,
    topics: frozenset[str] | None,
    after_id: int | None,
    keep_alive_s: float = 15.0,
) -> AsyncGenerator[Delivered | None, None]:
    return realtime.follow(
        runtime_of(conn),
        follower.scopes,
        topics=topics,
        after_id=after_id,
        keep_alive_s=keep_alive_s,
        client=follower.client,
    )


def sse_frame(event: Delivered | None) -> bytes:
    if event is None:
        return b": keep-alive\n\n"
    data = json.dumps(event.payload, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.topic}\ndata: {data}\n\n".encode()
