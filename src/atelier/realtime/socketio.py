"""The Socket.IO endpoint (python-socketio), for clients that speak it (AiNFT's were
written against Socket.io): on connect a client names what it follows in its `auth`
(`{"token": …, "topics": [...], "after": id}`; from our own pages the session cookie does for
the token) and then receives each event as an `event` message `{id, topic, data}`.

Browsers on other sites are refused by python-engineio's same-origin check, so a cookie
cannot be used from elsewhere; a refused credential refuses the connection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import socketio
from starlette.requests import HTTPConnection

from atelier.core.errors import AppError
from atelier.core.logging import get_logger
from atelier.core.realtime import Overflow
from atelier.realtime.streams import Follower, follow, follower_of, resume_point, topics_of

log = get_logger("atelier.realtime.socketio")

server = socketio.AsyncServer(
    async_mode="asgi",
    max_http_buffer_size=65_536,  # clients send nothing but their connect
    logger=False,
    engineio_logger=False,
)
app = socketio.ASGIApp(server, socketio_path=None)  # mounted under /socket.io
_pumps: dict[str, asyncio.Task[None]] = {}


def _connection(environ: dict[str, Any], token: object) -> HTTPConnection:
    scope = dict(environ["asgi.scope"])
    if isinstance(token, str) and token:
        headers = [(k, v) for k, v in scope.get("headers", []) if k != b"authorization"]
        scope["headers"] = [*headers, (b"authorization", f"Bearer {token}".encode())]
    return HTTPConnection(scope)


async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    asked = auth if isinstance(auth, dict) else {}
    conn = _connection(environ, asked.get("token"))
    try:
        topics = topics_of(asked.get("topics"))
        after_id = resume_point(asked.get("after"))
        follower = await follower_of(conn)
    except AppError as exc:
        raise socketio.exceptions.ConnectionRefusedError(exc.detail) from None
    _pumps[sid] = asyncio.create_task(_pump(sid, conn, follower, topics, after_id))


async def _pump(
    sid: str,
    conn: HTTPConnection,
    follower: Follower,
    topics: frozenset[str] | None,
    after_id: int | None,
) -> None:
    events = follow(conn, follower, topics, after_id)
    try:
        async for event in events:
            if event is not None:  # engine.io pings on its own
                await server.emit("event", event.as_json(), to=sid)
    except Overflow:
        await server.emit("overflow", {}, to=sid)
        await server.disconnect(sid)
    finally:
        await events.aclose()


async def disconnect(sid: str, *args: Any) -> None:
    pump = _pumps.pop(sid, None)
    if pump is not None:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


server.on("connect", connect)
server.on("disconnect", disconnect)
