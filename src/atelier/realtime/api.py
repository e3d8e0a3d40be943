"""The event stream's HTTP routes: server-sent events and a WebSocket, on one bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from atelier.core.errors import AppError
from atelier.core.realtime import Delivered, Overflow
from atelier.core.schemas import Text
from atelier.realtime.streams import follow, follower_of, resume_point, sse_frame, topics_of

router = APIRouter(prefix="/api/v1/events", tags=["realtime"])

RETRY_MS = 2000  # how soon an EventSource reconnects
PING = '{"type":"ping"}'
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013

TopicsQuery = Annotated[
    Text | None,
    Query(description="comma-separated topics to follow (grid.job_changed,…); all when absent"),
]
AfterQuery = Annotated[
    Text | None, Query(description="the last event id seen: what followed it is sent first")
]


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    topics: TopicsQuery = None,
    after: AfterQuery = None,
    last_event_id: Annotated[Text | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: each event the caller may see (public ones; with a credential,
    theirs and their roles'), `id:` its outbox id, `event:` its topic. A reconnecting
    EventSource sends `Last-Event-ID` and gets what it missed."""
    chosen = topics_of(topics)
    after_id = resume_point(after, last_event_id)
    follower = await follower_of(request)  # a 429 or 503 now, not inside the stream
    events = follow(request, follower, chosen, after_id)

    async def body() -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\n\n".encode()
        try:
            async for event in events:
                yield sse_frame(event)
        except Overflow:
            yield b"event: overflow\ndata: {}\n\n"  # the EventSource reconnects from its last id
        finally:
            await events.aclose()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """The same events as JSON messages `{id, topic, data}` (`?topics=`, `?after=`).
    Authenticated by `Authorization: Bearer` or, from our own pages, the session cookie."""
    try:
        chosen = topics_of(ws.query_params.get("topics"))
        after_id = resume_point(ws.query_params.get("after"))
        follower = await follower_of(ws)
    except AppError as exc:
        await ws.close(code=POLICY_VIOLATION, reason=exc.detail[:120])
        return
    await ws.accept()
    events = follow(ws, follower, chosen, after_id)
    sender = asyncio.create_task(_send(ws, events))
    try:
        while True:  # the client's frames are ignored; its leaving ends the stream
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if sender.done():
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await events.aclose()


async def _send(ws: WebSocket, events: AsyncGenerator[Delivered | None, None]) -> None:
    try:
        async for event in events:
            await ws.send_text(PING if event is None else event.text)
    except Overflow:
        await ws.send_json({"type": "overflow"})
        await ws.close(code=TRY_AGAIN_LATER, reason="fell behind; reconnect with ?after=")
