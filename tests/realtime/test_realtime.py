"""The realtime bus end to end: a commit's events reach WebSocket, SSE and Socket.IO clients
through LISTEN/NOTIFY, each client seeing only what its credential may, resuming from its
last id; hostile clients (many that drop, slow ones, cross-site pages) cost nothing."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio
import websockets

from atelier.core import events, realtime
from atelier.core.config import Settings
from atelier.core.events import Event
from atelier.core.realtime import Delivered, Overflow, hub_of
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.grid.events import JobChanged
from atelier.server.app import create_app
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, session_for
from tests.helpers import bearer, serving
from tests.servers import free_port


class BigNotice(Event, topic="tests.big_notice"):
    """An event too large for a NOTIFY: listeners read it back by id."""

    text: str

    def audience(self) -> tuple[str, ...]:
        return ("public",)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    """A thousand clients come from this one address here (one test lowers the cap)."""
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, realtime_max_per_client=5000
    )


@pytest.fixture(scope="module")
async def url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    async with serving(create_app(settings, runtime=runtime), free_port()) as base:
        yield base


def _ws(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/api/v1/events/ws" + query


async def _next(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next event (pings skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") != "ping":
            return dict(message)


async def _nothing_for(ws: Any, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        await _next(ws, seconds)


async def _submit(client: httpx.AsyncClient, key: str) -> str:
    submitted = await client.post(
        "/api/v1/generate", headers=bearer(key), json={"kind": "image", "prompt": "a red fox"}
    )
    assert submitted.status_code == 202, submitted.text
    return str(submitted.json()["id"])


async def test_owner_follows_their_job_and_nobody_else_sees_it(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, owner_key = await account_with_key(runtime)
    _, other_key = await account_with_key(runtime)
    async with (
        websockets.connect(_ws(url), additional_headers=bearer(owner_key)) as owner,
        websockets.connect(_ws(url), additional_headers=bearer(other_key)) as other,
        websockets.connect(_ws(url)) as anonymous,
    ):
        job = await _submit(client, owner_key)
        queued = await _next(owner)
        assert queued["topic"] == "grid.job_changed"
        assert queued["data"]["request_id"] == job and queued["data"]["state"] == "queued"
        cancelled = await client.delete(f"/api/v1/generate/status/{job}", headers=bearer(owner_key))
        assert cancelled.status_code == 200, cancelled.text
        ended = await _next(owner)
        assert ended["data"]["state"] == "cancelled" and ended["id"] > queued["id"]
        await _nothing_for(other, 1.0)  # another user's events: nothing delivered
        await _nothing_for(anonymous, 0.2)


async def test_asking_for_another_users_scope_gets_nothing(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Scopes come from the credential: a client cannot name someone else's."""
    victim, victim_key = await account_with_key(runtime)
    _, attacker_key = await account_with_key(runtime)
    query = f"?topics=grid.job_changed&scope=user:{victim}"
    async with websockets.connect(_ws(url, query), additional_headers=bearer(attacker_key)) as ws:
        await _submit(client, victim_key)
        await _nothing_for(ws, 1.0)


async def test_a_cookie_from_another_site_is_not_the_visitor(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Cross-site WebSocket hijacking: a page elsewhere opening our socket with the
    visitor's cookie is anonymous; the same cookie from our own origin is the visitor."""
    user_id, key = await account_with_key(runtime)
    cookie = {"Cookie": f"atelier_session={await session_for(runtime, user_id)}"}
    evil = {**cookie, "Origin": "https://evil.example"}
    async with (
        websockets.connect(_ws(url), additional_headers=evil) as hijacked,
        websockets.connect(_ws(url), additional_headers={**cookie, "Origin": url}) as ours,
    ):
        await _submit(client, key)
        assert (await _next(ours))["data"]["state"] == "queued"
        await _nothing_for(hijacked, 0.5)


async def test_a_live_page_gets_what_commits_before_its_socket_opens(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A live page names the newest event it was read after; its socket resumes there, so a
    job queued while the page was loading still reaches it."""
    user_id, key = await account_with_key(runtime)
    cookie = {"Cookie": f"atelier_session={await session_for(runtime, user_id)}"}
    async with httpx.AsyncClient(base_url=url, headers=cookie) as http:
        page = await http.get("/jobs")
    assert page.status_code == 200, page.text
    mark = re.search(r'<html lang="en" data-live-after="(\d+)">', page.text)
    assert mark is not None, page.text[:200]
    job = await _submit(client, key)  # commits after the page was read, before it connects
    query = f"?topics=grid.job_changed&after={mark.group(1)}"
    async with websockets.connect(
        _ws(url, query), additional_headers={**cookie, "Origin": url}
    ) as ws:
        replayed = await _next(ws)
    assert replayed["data"]["request_id"] == job and replayed["data"]["state"] == "queued"
    assert replayed["id"] > int(mark.group(1))


async def test_bad_credentials_and_topics_are_refused(url: str) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(_ws(url), additional_headers=bearer("atl_nonsense")):
            pass
    async with httpx.AsyncClient(base_url=url) as http:
        bad = await http.get("/api/v1/events", params={"topics": "grid.job_changed,'; drop"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["type"] == "/problems/invalid-topic"
        bad_id = await http.get("/api/v1/events", headers={"Last-Event-ID": "abc"})
        assert bad_id.status_code == 422
        many = ",".join(f"a.t{i}" for i in range(30))
        assert (await http.get("/api/v1/events", params={"topics": many})).status_code == 422


async def test_sse_resumes_after_the_last_event_id(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    first = await _submit(client, key)
    second = await _submit(client, key)
    async with (
        httpx.AsyncClient(base_url=url, headers=bearer(key), timeout=10) as http,
        http.stream(
            "GET", "/api/v1/events", params={"after": "0", "topics": "grid.job_changed"}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = _sse_frames(response)
        replayed = [await anext(frames), await anext(frames)]
    assert [f["data"]["request_id"] for f in replayed] == [first, second]
    resume_from = replayed[0]["id"]
    async with (
        httpx.AsyncClient(base_url=url, headers=bearer(key), timeout=10) as http,
        http.stream(
            "GET",
            "/api/v1/events",
            params={"topics": "grid.job_changed"},
            headers={"Last-Event-ID": str(resume_from)},
        ) as response,
    ):
        frames = _sse_frames(response)
        again = await anext(frames)
    assert again["id"] == replayed[1]["id"]  # exactly what followed the last one seen


async def _sse_frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield {
                    "id": int(fields["id"]),
                    "topic": fields["event"],
                    "data": json.loads(fields["data"]),
                }
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def test_an_event_too_large_to_notify_is_read_back(url: str, runtime: Runtime) -> None:
    text = "x" * 20_000
    async with websockets.connect(_ws(url, "?topics=tests.big_notice")) as ws:
        async with unit_of_work(runtime) as session:
            await events.emit(session, BigNotice(text=text))
        message = await _next(ws)
    assert message["topic"] == "tests.big_notice" and message["data"]["text"] == text


async def test_a_thousand_clients_connect_and_drop(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Clients that connect and vanish leave nothing behind: no subscriber, no task."""
    hub = hub_of(runtime)
    before = hub.subscribers

    async def hit_and_run() -> None:
        ws = await websockets.connect(_ws(url), open_timeout=30)
        ws.transport.abort()  # gone without a close frame

    for _ in range(10):
        await asyncio.gather(*(hit_and_run() for _ in range(100)))
    for _ in range(200):
        if hub.subscribers == before:
            break
        await asyncio.sleep(0.05)
    assert hub.subscribers == before
    _, key = await account_with_key(runtime)
    async with websockets.connect(_ws(url), additional_headers=bearer(key)) as ws:
        await _submit(client, key)
        assert (await _next(ws))["data"]["state"] == "queued"  # the bus still works


async def test_a_client_that_falls_behind_is_cut_off(runtime: Runtime) -> None:
    hub = await hub_of(runtime).started()
    scope = f"user:{uuid.uuid4()}"
    stream = realtime.follow(runtime, frozenset({scope}), keep_alive_s=0.05)
    assert await anext(stream) is None  # subscribed, nothing yet
    for n in range(realtime.QUEUE_SIZE + 10):
        hub.publish(Delivered(10**12 + n, "tests.flood", {"n": n}, (scope,)))
    with pytest.raises(Overflow):
        async for _ in stream:
            pass
    await stream.aclose()


async def test_socketio_clients_receive_their_events(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id, key = await account_with_key(runtime)
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("event", received.put_nowait)
    await sio.connect(
        url, auth={"token": key, "topics": ["grid.job_changed"]}, transports=["websocket"]
    )
    try:
        job = await _submit(client, key)
        event = await asyncio.wait_for(received.get(), 10)
        assert event["data"]["request_id"] == job
        assert event["data"]["owner_id"] == str(user_id)
        assert JobChanged.model_validate(event["data"]).state == "queued"
    finally:
        await sio.disconnect()
    refused = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(url, auth={"token": "atl_forged"}, transports=["websocket"])


async def test_a_jobs_status_stream_moves_with_its_events(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The seed's status stream follows the bus: a `status` event as the job is queued, one
    when its owner cancels it (its own event, no polling), then the stream ends; another
    user's job meanwhile changes nothing in it."""
    _, owner_key = await account_with_key(runtime)
    _, other_key = await account_with_key(runtime)
    job = await _submit(client, owner_key)
    seen: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream(
            "GET", f"/api/v1/generate/status/{job}/events", headers=bearer(owner_key)
        ) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        async for line in lines:
            if line.startswith("data: "):
                seen.append(json.loads(line.removeprefix("data: ")))
                break
        await _submit(client, other_key)
        cancelled = await client.delete(f"/api/v1/generate/status/{job}", headers=bearer(owner_key))
        assert cancelled.status_code == 200

        async def rest() -> None:
            async for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))

        await asyncio.wait_for(rest(), 10)  # the stream ends with the job
    assert [s["state"] for s in seen] == ["queued", "cancelled"]
    elsewhere = await client.get(f"/api/v1/generate/status/{job}/events", headers=bearer(other_key))
    assert elsewhere.status_code == 404


async def test_one_client_holds_only_so_many_streams(
    url: str, client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One address (or one user) cannot take every place: past the cap its next stream is
    refused 429, over SSE and WebSocket alike, while others still connect; a stream closed
    gives its place back."""
    monkeypatch.setitem(runtime.settings.__dict__, "realtime_max_per_client", 2)
    _, key = await account_with_key(runtime)
    async with (
        websockets.connect(_ws(url)) as first,
        websockets.connect(_ws(url)) as second,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        refused = await http.get("/api/v1/events")
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"] == "/problems/too-many-streams"
        with pytest.raises(websockets.exceptions.InvalidStatus):  # refused before the upgrade
            async with websockets.connect(_ws(url)):
                pass
        async with websockets.connect(_ws(url), additional_headers=bearer(key)) as theirs:
            await _submit(client, key)
            assert (await _next(theirs))["data"]["state"] == "queued"
        held = hub_of(runtime).subscribers
        await second.close()
        for _ in range(200):  # the server notices the close
            if hub_of(runtime).subscribers < held:
                break
            await asyncio.sleep(0.02)
        async with websockets.connect(_ws(url)) as again:
            async with unit_of_work(runtime) as session:
                await events.emit(session, BigNotice(text="welcome back"))
            assert (await _next(again))["data"]["text"] == "welcome back"
        assert first.state.name == "OPEN"
