"""API keys: shown once, stored hashed, listable, revocable, accepted as Bearer."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from atelier.core.runtime import Runtime
from atelier.identity.models import ApiKey
from tests.helpers import bearer, register_verified


async def test_api_key_lifecycle(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, tokens = await register_verified(client, runtime)
    headers = bearer(tokens["access_token"])
    created = await client.post("/api/v1/user/api-keys", headers=headers, json={"name": "vst"})
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("atl_live_")
    assert len(key) == len("atl_live_") + 48
    assert body["prefix"] == key[:17]

    async with runtime.sessions() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == body["id"]))
    assert stored is not None
    assert key not in (stored.key_hash, stored.prefix)  # only the hash and prefix are kept

    listed = await client.get("/api/v1/user/api-keys", headers=headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [body["id"]]
    assert "key" not in listed.json()[0]

    me = await client.get("/api/v1/auth/me", headers=bearer(key))
    assert me.status_code == 200
    assert me.json()["id"] == tokens["user_id"]

    revoked = await client.delete(f"/api/v1/user/api-keys/{body['id']}", headers=headers)
    assert revoked.status_code == 204
    again = await client.delete(f"/api/v1/user/api-keys/{body['id']}", headers=headers)
    assert again.status_code == 204  # idempotent

    refused = await client.get("/api/v1/auth/me", headers=bearer(key))
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/api-key-revoked"


async def test_bad_api_keys(client: httpx.AsyncClient, runtime: Runtime) -> None:
    malformed = await client.get("/api/v1/auth/me", headers=bearer("atl_live_XYZ"))
    assert malformed.status_code == 401
    assert malformed.json()["type"] == "/problems/invalid-api-key"
    assert "malformed" in malformed.json()["detail"]

    upper = await client.get("/api/v1/auth/me", headers=bearer("atl_live_" + "A" * 48))
    assert upper.status_code == 401

    unknown = await client.get("/api/v1/auth/me", headers=bearer("atl_live_" + "0" * 48))
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "unknown API key"


async def test_keys_are_private_to_their_owner(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, alice = await register_verified(client, runtime)
    _, bob = await register_verified(client, runtime)
    created = await client.post("/api/v1/user/api-keys", headers=bearer(alice["access_token"]))
    key_id = created.json()["id"]
    theft = await client.delete(
        f"/api/v1/user/api-keys/{key_id}", headers=bearer(bob["access_token"])
    )
    assert theft.status_code == 404
    bobs = await client.get("/api/v1/user/api-keys", headers=bearer(bob["access_token"]))
    assert bobs.json() == []
    not_uuid = await client.delete(
        "/api/v1/user/api-keys/not-a-uuid", headers=bearer(bob["access_token"])
    )
    assert not_uuid.status_code == 422


async def test_keys_have_scopes_and_cannot_mint_keys(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A key left on a volunteer's machine (scope worker) runs workers and nothing else; no key
    can mint keys or manage wallets, so revoking a leaked one ends it."""
    _, tokens = await register_verified(client, runtime)
    session = bearer(tokens["access_token"])
    full = (
        await client.post("/api/v1/user/api-keys", headers=session, json={"name": "laptop"})
    ).json()
    worker = (
        await client.post(
            "/api/v1/user/api-keys", headers=session, json={"name": "rig", "scope": "worker"}
        )
    ).json()
    assert (full["scope"], worker["scope"]) == ("full", "worker")

    for key in (full["key"], worker["key"]):
        minted = await client.post("/api/v1/user/api-keys", headers=bearer(key))
        assert minted.status_code == 403
        assert minted.json()["type"] in ("/problems/session-required", "/problems/key-scope")
        wallet = await client.post("/api/v1/user/wallets/custodial", headers=bearer(key))
        assert wallet.status_code == 403
    assert (await client.post("/api/v1/user/api-keys", headers=bearer(full["key"]))).json()[
        "type"
    ] == "/problems/session-required"

    rig = bearer(worker["key"])
    caps = {"name": "rig-1", "kinds": ["image"], "models": ["procedural-v1"]}
    assert (await client.post("/api/v1/workers/pop", headers=rig, json=caps)).status_code == 200
    job = await client.post("/api/v1/generate", headers=rig, json={"kind": "image", "prompt": "x"})
    assert job.status_code == 403 and job.json()["type"] == "/problems/key-scope"
    assert (await client.get("/api/v1/user/usage", headers=rig)).status_code == 403
    assert (await client.get("/api/v1/user/usage", headers=bearer(full["key"]))).status_code == 200

    revoked = await client.delete(f"/api/v1/user/api-keys/{full['id']}", headers=session)
    assert revoked.status_code == 204
    gone = await client.get("/api/v1/user/usage", headers=bearer(full["key"]))
    assert gone.status_code == 401


async def test_an_account_runs_a_bounded_number_of_workers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, tokens = await register_verified(client, runtime)
    key = (
        await client.post(
            "/api/v1/user/api-keys",
            headers=bearer(tokens["access_token"]),
            json={"scope": "worker"},
        )
    ).json()["key"]
    cap = runtime.settings.grid_max_workers_per_account
    caps = {"kinds": ["image"], "models": ["procedural-v1"]}
    for i in range(cap):
        registered = await client.post(
            "/api/v1/workers/register", headers=bearer(key), json={"name": f"w{i}", **caps}
        )
        assert registered.status_code == 200
    for route in ("/api/v1/workers/register", "/api/v1/workers/pop"):
        extra = await client.post(route, headers=bearer(key), json={"name": "one-more", **caps})
        assert extra.status_code == 409, extra.text
        assert extra.json()["type"] == "/problems/too-many-workers"
    again = await client.post(
        "/api/v1/workers/register", headers=bearer(key), json={"name": "w0", **caps}
    )
    assert again.status_code == 200  # an existing worker may come back
    listed = (await client.get("/api/v1/workers/status")).json()["workers"]
    first = next(w for w in listed if w["name"] == "w0")
    retired = await client.delete(f"/api/v1/workers/{first['id']}", headers=bearer(key))
    assert retired.status_code == 204
    replacement = await client.post(
        "/api/v1/workers/pop", headers=bearer(key), json={"name": "one-more", **caps}
    )
    assert replacement.status_code == 200
