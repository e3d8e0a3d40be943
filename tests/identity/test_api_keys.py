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
