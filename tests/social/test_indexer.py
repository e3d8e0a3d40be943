"""The indexer against a hub over HTTP: the platform's stand-in hub (real signed messages,
made here), then hubs that prune, restart, answer garbage or hang up mid-answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from atelier.core import events
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.server.app import create_app
from atelier.social import farcaster, scheduled
from atelier.social.api import STANDIN, standin
from atelier.social.hub import HubClient
from atelier.social.standin import StandinHub
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key
from tests.helpers import bearer, serving
from tests.servers import free_port

FOLLOWED = 777
STRANGER = 888


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, farcaster_fids=[FOLLOWED], farcaster_fid=5
    )


@pytest.fixture(scope="module")
async def url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    async with serving(create_app(settings, runtime=runtime), free_port()) as base:
        yield base


@pytest.fixture(scope="module")
def author() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _cast(key: Ed25519PrivateKey, fid: int, text: str, **kwargs: Any) -> dict[str, Any]:
    message, _ = farcaster.signed_message(key, farcaster.cast_data(fid, text, **kwargs))
    return message


def _fresh_hub(runtime: Runtime, **kwargs: Any) -> StandinHub:
    """The stand-in as a restarted hub that lost its log."""
    hub = StandinHub(None, **kwargs)
    runtime.adapters[STANDIN] = hub
    return hub


async def _feed(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await client.get("/api/social/feed", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["casts"])


async def test_follows_the_stream_and_keeps_only_checked_followed_casts(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    hub = standin(runtime)
    collection = uuid.uuid4()
    kept = hub.submit(_cast(author, FOLLOWED, "first light"))
    hub.submit(_cast(author, STRANGER, "not followed, not kept"))
    linked = hub.submit(
        _cast(
            author, STRANGER, "look", embeds=[f"https://a.example/market/collections/{collection}"]
        )
    )
    name, _ = farcaster.signed_message(
        author,
        {
            "type": farcaster.USER_DATA_ADD,
            "fid": FOLLOWED,
            "timestamp": farcaster.farcaster_time(),
            "network": "FARCASTER_NETWORK_MAINNET",
            "userDataBody": {"type": "USER_DATA_TYPE_USERNAME", "value": "fox"},
        },
    )
    hub.submit(name)
    client_of_hub = HubClient(f"{url}/farcaster/hub")
    report = await scheduled.follow_hub(runtime, client_of_hub)
    assert report.error is None, report.error
    # the first read backfills the followed accounts, then reads the stream: the followed
    # cast comes both ways (kept once), the stranger's only if it links a collection
    assert report.backfilled == 2 and report.outcomes.get("ignored") == 1
    assert report.outcomes.get("stored") == 1 and report.outcomes.get("duplicate") == 1
    mine = await _feed(client, fid=FOLLOWED)
    assert [c["text"] for c in mine] == ["first light"]
    assert mine[0]["hash"] == "0x" + kept.hash.hex() and mine[0]["author"]["username"] == "fox"
    farcaster.verify(mine[0]["message"])  # what the API gives can be checked again by anyone
    about = await _feed(client, collection_id=str(collection))
    assert [c["hash"] for c in about] == ["0x" + linked.hash.hex()]
    again = await scheduled.follow_hub(runtime, client_of_hub)
    assert again.events == 0  # caught up: the last event read is not read twice


async def test_a_cast_removed_by_its_author_leaves_the_feed(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    hub = standin(runtime)
    doomed = hub.submit(_cast(author, FOLLOWED, "delete me"))
    client_of_hub = HubClient(f"{url}/farcaster/hub")
    await scheduled.follow_hub(runtime, client_of_hub)
    assert "delete me" in [c["text"] for c in await _feed(client, fid=FOLLOWED)]
    remove, _ = farcaster.signed_message(
        author,
        {
            "type": farcaster.CAST_REMOVE,
            "fid": FOLLOWED,
            "timestamp": farcaster.farcaster_time(),
            "network": "FARCASTER_NETWORK_MAINNET",
            "castRemoveBody": {"targetHash": "0x" + doomed.hash.hex()},
        },
    )
    hub.submit(remove)
    await scheduled.follow_hub(runtime, client_of_hub)
    assert "delete me" not in [c["text"] for c in await _feed(client, fid=FOLLOWED)]


async def test_a_bad_message_in_the_stream_is_refused_and_the_rest_kept(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    """A hub that serves a message with a broken signature or hash: refused, not stored,
    counted; the stream goes on."""
    hub = standin(runtime)
    forged = _cast(author, FOLLOWED, "forged")
    forged["data"]["castAddBody"]["text"] = "forged, then edited"
    hub._events.append(  # a lying hub: nothing checked it
        type(hub._events[0])(hub._next_id, "HUB_EVENT_TYPE_MERGE_MESSAGE", forged)
    )
    hub._next_id += 1
    hub.submit(_cast(author, FOLLOWED, "after the forgery"))
    report = await scheduled.follow_hub(runtime, HubClient(f"{url}/farcaster/hub"))
    assert report.outcomes.get("refused") == 1 and report.outcomes.get("stored") == 1
    texts = [c["text"] for c in await _feed(client, fid=FOLLOWED)]
    assert "after the forgery" in texts and "forged, then edited" not in texts


async def test_a_hub_that_pruned_or_restarted_is_backfilled(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    hub = standin(runtime)
    client_of_hub = HubClient(f"{url}/farcaster/hub")
    await scheduled.follow_hub(runtime, client_of_hub)
    missed = hub.submit(_cast(author, FOLLOWED, "cast while we were away"))
    hub.submit(_cast(author, FOLLOWED, "the newest"))
    hub.prune_events(keep_last=1)  # the hub dropped our place and the cast after it
    report = await scheduled.follow_hub(runtime, client_of_hub)
    assert report.gap and report.backfilled >= 1
    texts = [c["text"] for c in await _feed(client, fid=FOLLOWED)]
    assert "cast while we were away" in texts and "the newest" in texts
    assert "0x" + missed.hash.hex() in [c["hash"] for c in await _feed(client, fid=FOLLOWED)]

    restarted = _fresh_hub(runtime)  # a new log, ids from 1 again, below our cursor
    restarted.submit(_cast(author, FOLLOWED, "after the restart"))
    first = await scheduled.follow_hub(runtime, client_of_hub)
    assert first.gap
    second = await scheduled.follow_hub(runtime, client_of_hub)
    assert second.error is None
    assert "after the restart" in [c["text"] for c in await _feed(client, fid=FOLLOWED)]


def _garbage_hub() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/events")
    async def events(from_event_id: int = 0) -> PlainTextResponse:
        return PlainTextResponse("<html>502 Bad Gateway</html>")

    @app.get("/v1/castsByFid")
    async def casts() -> dict[str, Any]:
        return {"messages": "not a list"}

    @app.get("/v1/userDataByFid")
    async def user_data() -> list[int]:
        return [1, 2]

    return app


async def test_a_hub_answering_garbage_leaves_the_cursor_and_says_why(
    runtime: Runtime,
) -> None:
    async with serving(_garbage_hub(), free_port()) as garbage:
        report = await scheduled.follow_hub(runtime, HubClient(garbage))
    assert report.error is not None and "castsByFid" in report.error


async def _hang_up_mid_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        b'{"events": [{"id": 1, "type": "HUB_EVENT_TYPE_MERGE_MESSAGE", "mergeMe'
    )
    await writer.drain()
    writer.close()


async def test_a_hub_that_disconnects_mid_stream_changes_nothing(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    server = await asyncio.start_server(_hang_up_mid_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hub = HubClient(f"http://127.0.0.1:{port}")
    before = await _feed(client)
    async with server:
        report = await scheduled.follow_hub(runtime, hub)
    assert report.error is not None and "did not answer" in report.error
    assert await _feed(client) == before
    admin_id, admin_key = await account_with_key(runtime, ["admin"])
    del admin_id
    status = await client.get("/api/social/hubs", headers=bearer(admin_key))
    assert status.status_code == 200
    rows = {row["hub"]: row for row in status.json()}
    assert rows[hub.base_url]["last_error"] and rows[hub.base_url]["last_event_id"] == 0
    forbidden = await client.get(
        "/api/social/hubs", headers=bearer((await account_with_key(runtime))[1])
    )
    assert forbidden.status_code == 403


async def test_cross_posting_signs_as_the_platform_and_reaches_the_feed(
    url: str, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    _, admin_key = await account_with_key(runtime, ["admin"])
    _, member_key = await account_with_key(runtime)
    body = {"text": "a new collection is out", "embeds": ["https://atelier.example/x"]}
    refused = await client.post("/api/social/casts", headers=bearer(member_key), json=body)
    assert refused.status_code == 403
    too_long = await client.post(
        "/api/social/casts", headers=bearer(admin_key), json={"text": "x" * 400}
    )
    assert too_long.status_code == 422
    # the embedded hub lives at the settings' origin; here the served test app is that hub
    runtime.settings.__dict__["origin"] = url
    try:
        posted = await client.post("/api/social/casts", headers=bearer(admin_key), json=body)
    finally:
        del runtime.settings.__dict__["origin"]
    assert posted.status_code == 201, posted.text
    message = posted.json()["message"]
    assert farcaster.verify(message).fid == settings.farcaster_fid
    await scheduled.follow_hub(runtime, HubClient(f"{url}/farcaster/hub"))
    platform = await _feed(client, fid=settings.farcaster_fid)
    assert platform[0]["text"] == "a new collection is out"
    assert (settings.home / "farcaster" / "signer.sealed").exists()
    sealed = (settings.home / "farcaster" / "signer.sealed").read_text()
    key = runtime.settings.farcaster_signer_key
    assert key is None and "private" not in sealed


async def test_the_stand_in_refuses_bad_submissions(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        garbage = await http.post("/farcaster/hub/v1/submitMessage", content=b"\xff" * 40)
        assert garbage.status_code == 422
        assert garbage.json()["type"] == "/problems/message-refused"
        huge = await http.post("/farcaster/hub/v1/submitMessage", content=b"\x0a" * 5000)
        assert huge.status_code == 422
        missing = await http.get("/farcaster/hub/v1/castById", params={"fid": 1, "hash": "0x00"})
        assert missing.status_code == 404
        bad_cursor = await http.get("/api/social/feed", params={"cursor": "nonsense"})
        assert bad_cursor.status_code == 422


async def test_the_client_reads_a_cast_by_id_and_the_hubs_info(
    url: str, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    hub = standin(runtime)
    kept = hub.submit(_cast(author, FOLLOWED, "fetch me by id"))
    client_of_hub = HubClient(f"{url}/farcaster/hub")
    found = await client_of_hub.cast_by_id(FOLLOWED, "0x" + kept.hash.hex())
    assert farcaster.verify(found).hash == kept.hash
    assert await client_of_hub.cast_by_id(FOLLOWED, "0x" + "00" * 20) is None  # a 404
    assert (await client_of_hub.info())["version"] == "atelier-standin"


def _reaction(key: Ed25519PrivateKey, fid: int, target: Any, **kwargs: Any) -> dict[str, Any]:
    message, _ = farcaster.signed_message(
        key, farcaster.reaction_data(fid, (target.fid, target.hash), **kwargs)
    )
    return message


async def test_likes_and_recasts_follow_the_reaction_rules(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    """Anyone's likes and recasts of a kept cast are counted under the reaction CRDT: the
    later message wins, at the same second a remove wins, in whatever order they come;
    reactions to casts the feed does not keep, and forged ones, are not kept."""
    hub = standin(runtime)
    target = hub.submit(_cast(author, FOLLOWED, "react to me"))
    elsewhere = hub.submit(_cast(author, STRANGER, "not followed"))
    fan = Ed25519PrivateKey.generate()
    now = farcaster.farcaster_time()
    hub.submit(_reaction(fan, 9001, target, timestamp=now))
    hub.submit(_reaction(fan, 9001, target, kind="REACTION_TYPE_RECAST", timestamp=now))
    hub.submit(_reaction(fan, 9002, target, timestamp=now))
    hub.submit(_reaction(fan, 9003, target, remove=True, timestamp=now))  # same second:
    hub.submit(_reaction(fan, 9003, target, timestamp=now))  # the remove wins over the add
    hub.submit(_reaction(fan, 9001, elsewhere, timestamp=now))
    forged = _reaction(fan, 9004, target, timestamp=now)
    forged["data"]["fid"] = 9005
    hub._events.append(  # a lying hub: nothing checked it
        type(hub._events[0])(hub._next_id, "HUB_EVENT_TYPE_MERGE_MESSAGE", forged)
    )
    hub._next_id += 1
    client_of_hub = HubClient(f"{url}/farcaster/hub")
    report = await scheduled.follow_hub(runtime, client_of_hub)
    assert report.outcomes.get("reaction") == 4 and report.outcomes.get("duplicate") == 1
    assert report.outcomes.get("refused") == 1
    cast_url = f"/api/social/casts/0x{target.hash.hex()}"
    shown = (await client.get(cast_url)).json()
    assert (shown["likes"], shown["recasts"]) == (2, 1)
    listed = next(c for c in await _feed(client, fid=FOLLOWED) if c["text"] == "react to me")
    assert (listed["likes"], listed["recasts"]) == (2, 1)
    hub.submit(_reaction(fan, 9002, target, remove=True, timestamp=now + 1))
    hub.submit(_reaction(fan, 9001, target, timestamp=now - 5))  # older than its like: stale
    report = await scheduled.follow_hub(runtime, client_of_hub)
    assert report.outcomes == {"reaction": 1, "duplicate": 1}
    shown = (await client.get(cast_url)).json()
    assert (shown["likes"], shown["recasts"]) == (1, 1)
    async with unit_of_work(runtime) as session:
        told = await events.for_audience(
            session, 0, frozenset({"public"}), 10_000, topics=frozenset({"social.cast_reacted"})
        )
    about = [e.payload for e in told if e.payload["hash"] == "0x" + target.hash.hex()]
    assert about == [  # once a page, with the counts after it
        {"hash": "0x" + target.hash.hex(), "likes": 2, "recasts": 1},
        {"hash": "0x" + target.hash.hex(), "likes": 1, "recasts": 1},
    ]


async def test_a_cast_cannot_smuggle_a_script_link_onto_the_feed(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    """A stranger's cast is kept when it links one of our collections; its other links are
    its own. A javascript: one is shown as text, never as a link, and the feed's fragment
    carries the pages' content policy."""
    hub = standin(runtime)
    collection = uuid.uuid4()
    hub.submit(
        _cast(
            author,
            STRANGER,
            f"see https://a.example/market/collections/{collection}",
            embeds=["javascript:alert(document.cookie)"],
            parent_url="data:text/html,<script>alert(1)</script>",
        )
    )
    await scheduled.follow_hub(runtime, HubClient(f"{url}/farcaster/hub"))
    async with httpx.AsyncClient(base_url=url) as http:
        fragment = await http.get("/feed/casts")
    assert fragment.status_code == 200
    assert "javascript:alert(document.cookie)" in fragment.text  # shown, as text
    assert 'href="javascript:' not in fragment.text and 'href="data:' not in fragment.text
    assert "default-src 'self'" in fragment.headers["content-security-policy"]


async def test_a_revoked_signers_like_and_cast_stop_counting(
    url: str, client: httpx.AsyncClient, runtime: Runtime, author: Ed25519PrivateKey
) -> None:
    """When a hub revokes messages (their signer was removed), the like stops counting and
    the cast leaves the feed; revoking a like that never counted changes nothing."""
    hub = standin(runtime)
    target = hub.submit(_cast(author, FOLLOWED, "revoked soon"))
    like = _reaction(Ed25519PrivateKey.generate(), 9101, target)
    hub.submit(like)
    client_of_hub = HubClient(f"{url}/farcaster/hub")
    await scheduled.follow_hub(runtime, client_of_hub)
    cast_url = f"/api/social/casts/0x{target.hash.hex()}"
    assert (await client.get(cast_url)).json()["likes"] == 1
    stranger_like = _reaction(Ed25519PrivateKey.generate(), 9102, target)
    for message in (like, stranger_like):
        hub._events.append(
            type(hub._events[0])(hub._next_id, "HUB_EVENT_TYPE_REVOKE_MESSAGE", message)
        )
        hub._next_id += 1
    report = await scheduled.follow_hub(runtime, client_of_hub)
    assert report.outcomes == {"removed": 1, "ignored": 1}
    assert (await client.get(cast_url)).json()["likes"] == 0
    hub._events.append(
        type(hub._events[0])(
            hub._next_id, "HUB_EVENT_TYPE_REVOKE_MESSAGE", farcaster.verify(target.raw).raw
        )
    )
    hub._next_id += 1
    await scheduled.follow_hub(runtime, client_of_hub)
    gone = await client.get(cast_url)
    assert gone.status_code == 404 and gone.json()["type"].endswith("cast-not-found")
