"""Idempotency-Key on the POSTs that create things: a retry answers what the first request
did, concurrently too, and never creates twice."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from atelier.core.runtime import Runtime
from atelier.governance.models import Proposal
from atelier.grid.models import GenerationRequest
from atelier.identity.models import ApiKey, Wallet
from tests.grid.helpers import account_with_key, session_for
from tests.helpers import bearer


def keyed(token: str, key: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


async def test_a_retried_job_is_one_job(client: httpx.AsyncClient, runtime: Runtime) -> None:
    user_id, token = await account_with_key(runtime)
    body = {"kind": "image", "prompt": "retry me", "model": "nobody-has-this"}
    key = str(uuid.uuid4())
    first, *retries = await asyncio.gather(
        *(client.post("/api/v1/generate", headers=keyed(token, key), json=body) for _ in range(5))
    )
    assert {r.status_code for r in [first, *retries]} == {202}
    assert {r.json()["id"] for r in [first, *retries]} == {first.json()["id"]}
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in [first, *retries]) == 4
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(GenerationRequest)
            .where(GenerationRequest.user_id == user_id)
        )
    assert count == 1
    usage = (await client.get("/api/v1/user/usage", headers=bearer(token))).json()
    assert usage["reserved"] == 1  # one quota reservation, not five

    other = await client.post(
        "/api/v1/generate", headers=keyed(token, key), json={**body, "prompt": "something else"}
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    _, stranger = await account_with_key(runtime)  # keys are per account
    theirs = await client.post("/api/v1/generate", headers=keyed(stranger, key), json=body)
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    bad = await client.post("/api/v1/generate", headers=keyed(token, "has space"), json=body)
    assert bad.status_code == 422 and bad.json()["type"] == "/problems/invalid-idempotency-key"


async def test_proposals_wallets_and_keys(client: httpx.AsyncClient, runtime: Runtime) -> None:
    user_id, token = await account_with_key(runtime)
    proposal = {"title": "Once?", "ends_at": "2099-01-01T00:00:00Z"}
    made = [
        await client.post("/api/proposals", headers=keyed(token, "p-1"), json=proposal)
        for _ in range(2)
    ]
    assert [m.status_code for m in made] == [201, 201]
    assert made[0].json() == made[1].json()

    session = await session_for(runtime, user_id)
    wallets = [
        await client.post("/api/v1/user/wallets/custodial", headers=keyed(session, "w-1"))
        for _ in range(2)
    ]
    assert wallets[0].json()["address"] == wallets[1].json()["address"]

    first = await client.post(
        "/api/v1/user/api-keys", headers=keyed(session, "k-1"), json={"name": "ci"}
    )
    assert first.status_code == 201 and first.json()["key"].startswith("atl_live_")
    again = await client.post(
        "/api/v1/user/api-keys", headers=keyed(session, "k-1"), json={"name": "ci"}
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["api_key"]["id"] == first.json()["id"]
    assert first.json()["key"] not in again.text  # the secret is never kept to show again

    async with runtime.sessions() as db:
        counts = [
            await db.scalar(
                select(func.count()).select_from(Proposal).where(Proposal.author_id == user_id)
            ),
            await db.scalar(
                select(func.count()).select_from(Wallet).where(Wallet.user_id == user_id)
            ),
            await db.scalar(
                select(func.count())
                .select_from(ApiKey)
                .where(ApiKey.user_id == user_id, ApiKey.name == "ci")
            ),
        ]
    assert counts == [1, 1, 1]
