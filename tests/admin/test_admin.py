"""Admin: accounts (roles, disabling, quota overrides), moderation with the owner told why
and an appeal decided, masked settings, and the queue's dead letters retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from procrastinate import jobs

from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.governance import scheduled as governance_scheduled
from atelier.social import farcaster
from atelier.social import service as social
from tests.governance.helpers import signed_vote, verified_voter
from tests.grid.helpers import account_with_key, worker_loop
from tests.helpers import bearer, drain_tasks


async def test_admin_routes_are_for_admins(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, member = await account_with_key(runtime)
    for path in ("/api/admin/users", "/api/admin/settings", "/api/admin/status"):
        answer = await client.get(path, headers=bearer(member))
        assert answer.status_code == 403, path
    hide = {"kind": "cast", "target_id": "0x" + "00" * 20, "reason": "spam"}
    assert (
        await client.post("/api/admin/moderation", headers=bearer(member), json=hide)
    ).status_code == 403


async def test_quota_override_disable_and_roles(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin_id, admin = await account_with_key(runtime, ["admin"])
    user_id, key = await account_with_key(runtime)
    found = await client.get(
        "/api/admin/users", headers=bearer(admin), params={"q": "@example.org", "limit": 200}
    )
    assert str(user_id) in [u["id"] for u in found.json()]
    limited = await client.patch(
        f"/api/admin/users/{user_id}", headers=bearer(admin), json={"daily_quota": 1}
    )
    assert limited.status_code == 200 and limited.json()["daily_quota"] == 1
    job = {"kind": "image", "prompt": "x"}
    assert (await client.post("/api/v1/generate", headers=bearer(key), json=job)).status_code == 202
    over = await client.post("/api/v1/generate", headers=bearer(key), json=job)
    assert over.status_code == 429 and over.json()["type"] == "/problems/quota-exceeded"
    usage = (await client.get("/api/v1/user/usage", headers=bearer(key))).json()
    assert usage["limit"] == 1
    promoted = await client.patch(
        f"/api/admin/users/{user_id}",
        headers=bearer(admin),
        json={"roles": ["creator", "validator"]},
    )
    assert promoted.json()["roles"] == ["creator", "validator"]
    bad_role = await client.patch(
        f"/api/admin/users/{user_id}", headers=bearer(admin), json={"roles": ["emperor"]}
    )
    assert bad_role.status_code == 422
    disabled = await client.patch(
        f"/api/admin/users/{user_id}", headers=bearer(admin), json={"active": False}
    )
    assert disabled.json()["active"] is False
    refused = await client.get("/api/v1/user/usage", headers=bearer(key))
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/account-disabled"
    self_harm = await client.patch(
        f"/api/admin/users/{admin_id}", headers=bearer(admin), json={"active": False}
    )
    assert self_harm.status_code == 409


async def test_settings_are_shown_with_secrets_masked(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    shown = (await client.get("/api/admin/settings", headers=bearer(admin))).json()
    assert shown["database_url"] == "•••••• (set)"
    assert shown["farcaster_signer_key"] == "(not set)"
    assert shown["origin"] if "origin" in shown else shown["port"]
    secret_url = runtime.settings.database_url
    assert secret_url is not None and secret_url.get_secret_value() not in str(shown)


async def test_hidden_content_leaves_public_view_and_its_owner_can_appeal(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    owner_id, owner = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    # a cast in the feed, hidden: gone from the feed and from its own route
    key = Ed25519PrivateKey.generate()
    message, _ = farcaster.signed_message(
        key, farcaster.cast_data(runtime.settings.farcaster_fid, "buy my pills")
    )
    async with unit_of_work(runtime) as session:
        await social.index(session, runtime.settings, [(message, False)])
    assert (await client.get(f"/api/social/casts/{message['hash']}")).status_code == 200
    hid = await client.post(
        "/api/admin/moderation",
        headers=bearer(admin),
        json={"kind": "cast", "target_id": message["hash"], "reason": "spam"},
    )
    assert hid.status_code == 201, hid.text
    assert (await client.get(f"/api/social/casts/{message['hash']}")).status_code == 404
    feed = (await client.get("/api/social/feed")).json()["casts"]
    assert message["hash"] not in [c["hash"] for c in feed]

    # an artifact: its owner is told why, appeals, and an admin restores it
    submitted = await client.post(
        "/api/v1/generate", headers=bearer(owner), json={"kind": "image", "prompt": "a heron"}
    )
    job_id = submitted.json()["id"]
    # the quota test left one job queued: the worker runs both
    async with worker_loop(client, volunteer, "w-mod", tmp_path, max_jobs=2) as loop:
        await asyncio.wait_for(loop.run(), timeout=120)
    await drain_tasks(runtime)
    status = (await client.get(f"/api/jobs/{job_id}", headers=bearer(owner))).json()
    artifact_id = status["result"]["artifact_id"]
    assert status["moderation"] is None
    missing = await client.post(
        "/api/admin/moderation",
        headers=bearer(admin),
        json={"kind": "artifact", "target_id": "not-a-uuid", "reason": "nope"},
    )
    assert missing.status_code == 422
    case = (
        await client.post(
            "/api/admin/moderation",
            headers=bearer(admin),
            json={"kind": "artifact", "target_id": artifact_id, "reason": "looks like a logo"},
        )
    ).json()
    status = (await client.get(f"/api/jobs/{job_id}", headers=bearer(owner))).json()
    assert status["moderation"]["reason"] == "looks like a logo"
    # its upgrade proposal leaves the listings and takes no votes
    listed = (await client.get("/api/proposals", params={"limit": 200})).json()
    assert job_id not in {p["job_id"] for p in listed}
    voter = await verified_voter(client, runtime)
    vote = await signed_vote(client, job_id, voter, "approve", key="job_id")
    refused = await client.post("/api/vote", json=vote)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/proposal-hidden")
    mine = (await client.get("/api/moderation/mine", headers=bearer(owner))).json()
    assert [c["id"] for c in mine] == [case["id"]]
    _, stranger = await account_with_key(runtime)
    not_theirs = await client.post(
        f"/api/moderation/cases/{case['id']}/appeal", headers=bearer(stranger), json={"text": "x"}
    )
    assert not_theirs.status_code == 404
    appealed = await client.post(
        f"/api/moderation/cases/{case['id']}/appeal",
        headers=bearer(owner),
        json={"text": "I drew it myself"},
    )
    assert appealed.status_code == 200 and appealed.json()["appeal"] == "I drew it myself"
    twice = await client.post(
        f"/api/moderation/cases/{case['id']}/appeal", headers=bearer(owner), json={"text": "?"}
    )
    assert twice.status_code == 409
    queue = (await client.get("/api/admin/moderation", headers=bearer(admin))).json()
    assert queue[0]["id"] == case["id"]  # open appeals first
    decided = await client.post(
        f"/api/admin/moderation/{case['id']}/decide",
        headers=bearer(admin),
        json={"restore": True, "note": "fair, it is yours"},
    )
    assert decided.json()["hidden"] is False
    status = (await client.get(f"/api/jobs/{job_id}", headers=bearer(owner))).json()
    assert status["moderation"] is None
    listed = (await client.get("/api/proposals", params={"limit": 200})).json()
    assert job_id in {p["job_id"] for p in listed}
    assert (await client.post("/api/vote", json=vote)).status_code == 201
    del owner_id


async def test_a_dead_letter_is_shown_and_retried(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A task job that failed for good (here: a task no worker knows) is listed and queued
    again by an admin."""
    manager = runtime.tasks.job_manager
    job = await manager.defer_job_async(
        jobs.Job(
            id=None,
            queue="default",
            lock=None,
            queueing_lock=None,
            task_name="tests:no_such_task",
            task_kwargs={},
        )
    )
    await drain_tasks(runtime)
    _, admin = await account_with_key(runtime, ["admin"])
    status = (await client.get("/api/admin/status", headers=bearer(admin))).json()
    assert job.id in [d["id"] for d in status["dead_letters"]]
    assert isinstance(status["outbox_backlog"], int)
    retried = await client.post(f"/api/admin/dead-letters/{job.id}/retry", headers=bearer(admin))
    assert retried.status_code == 202
    assert await manager.get_job_status_async(job.id) == jobs.Status.TODO
    again = await client.post(f"/api/admin/dead-letters/{job.id}/retry", headers=bearer(admin))
    assert again.status_code == 404


async def test_each_indexer_says_where_it_is(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The EVM event indexer (per contract: its newest block and when it moved) and the
    market's intents waiting for the Solana chain are in the status, and on the page."""
    await governance_scheduled.chain_tick(runtime)  # the indexer reads the contracts' events
    _, admin = await account_with_key(runtime, ["admin"])
    status = (await client.get("/api/admin/status", headers=bearer(admin))).json()
    by_name = {i["name"]: i for i in status["indexers"]}
    evm = [i for name, i in by_name.items() if name.startswith("EVM chain")]
    assert evm and all(i["position"].startswith("block ") and i["moved_at"] for i in evm)
    assert by_name["Solana market intents"]["position"].endswith("waiting")
