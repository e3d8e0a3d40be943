"""POST /api/music/style: truck style → genre per wallet, with a track from the library."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from eth_account import Account

from atelier.core.runtime import Runtime
from tests.grid.helpers import account_with_key, asgi_client, session_for, worker_loop
from tests.helpers import bearer, drain_tasks, eth_sign


async def _linked(client: httpx.AsyncClient, runtime: Runtime) -> tuple[str, str]:
    user_id, key = await account_with_key(runtime)
    signed_in = await session_for(runtime, user_id)
    account = Account.create()
    challenge = (
        await client.post(
            "/api/v1/user/wallets/challenge",
            headers=bearer(signed_in),
            json={"chain": "evm", "address": account.address},
        )
    ).json()["message"]
    await client.post(
        "/api/v1/user/wallets",
        headers=bearer(signed_in),
        json={"chain": "evm", "message": challenge, "signature": eth_sign(account, challenge)},
    )
    return key, account.address


async def test_style_maps_to_genre_and_suggests_a_track(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    key, wallet = await _linked(client, runtime)
    body = {"wallet": wallet, "truck_style": "graffiti", "mood": "upbeat"}
    first = await client.post("/api/music/style", headers=bearer(key), json=body)
    assert first.status_code == 200, first.text
    assert first.json()["music_genre"] == "hip-hop"
    assert first.json()["suggested_track"] is None
    assert first.json()["generate"]["genre"] == "hip-hop"

    # make the suggested request; the library now has a hip-hop track
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, key)
    job = await grid.generate({**first.json()["generate"], "duration_s": 2})
    async with worker_loop(client, volunteer, "dj", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), 60)
    await grid.close()
    await drain_tasks(runtime)
    again = await client.post("/api/music/style", headers=bearer(key), json=body)
    assert again.json()["suggested_track"] == f"/api/v1/generate/{job.id}/result"
    audio = await client.get(again.json()["suggested_track"], headers=bearer(key))
    assert audio.content[:4] == b"RIFF"

    changed = await client.post(
        "/api/music/style", headers=bearer(key), json={"wallet": wallet, "truck_style": "Chrome"}
    )
    assert changed.json()["music_genre"] == "synthwave"
    stored = await client.get("/api/music/style", headers=bearer(key), params={"wallet": wallet})
    assert stored.json()["truck_style"] == "chrome"
    lower = await client.get(
        "/api/music/style", headers=bearer(key), params={"wallet": wallet.lower()}
    )
    assert lower.status_code == 200 and lower.json()["wallet"] == wallet


async def test_style_refusals(client: httpx.AsyncClient, runtime: Runtime) -> None:
    key, wallet = await _linked(client, runtime)
    unknown = await client.post(
        "/api/music/style", headers=bearer(key), json={"wallet": wallet, "truck_style": "plaid"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["type"] == "/problems/unknown-style"
    stranger_key, _ = await _linked(client, runtime)
    not_theirs = await client.post(
        "/api/music/style",
        headers=bearer(stranger_key),
        json={"wallet": wallet, "truck_style": "matte"},
    )
    assert not_theirs.status_code == 403
    anonymous = await client.post(
        "/api/music/style", json={"wallet": wallet, "truck_style": "matte"}
    )
    assert anonymous.status_code == 401
    missing = await client.get(
        "/api/music/style", headers=bearer(stranger_key), params={"wallet": wallet}
    )
    assert missing.status_code == 404
    not_an_address = await client.get(
        "/api/music/style", headers=bearer(key), params={"wallet": "0x" + "zz" * 20}
    )
    assert not_an_address.status_code == 422
    assert not_an_address.json()["type"] == "/problems/invalid-address"


async def test_operator_overrides_the_mapping(client: httpx.AsyncClient, runtime: Runtime) -> None:
    key, wallet = await _linked(client, runtime)
    runtime.settings.music_genres = {"matte": "jazz"}
    try:
        response = await client.post(
            "/api/music/style", headers=bearer(key), json={"wallet": wallet, "truck_style": "matte"}
        )
    finally:
        runtime.settings.music_genres = {}
    assert response.json()["music_genre"] == "jazz"
