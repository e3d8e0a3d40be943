"""The seed's render + vote flow: a finished job gets a proposal, wallets vote with their own
signatures, votes go on chain and come back, and UpgradeApplied personalizes the job."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from eth_account import Account
from sqlalchemy import select

from atelier.chain.evm.client import EvmChain, chain_for, error_name
from atelier.core.runtime import Runtime
from atelier.governance import scheduled
from atelier.grid.models import GenerationRequest
from tests.governance.helpers import signed_vote, verified_voter
from tests.grid.helpers import account_with_key, asgi_client, session_for, worker_loop
from tests.helpers import bearer, drain_tasks


async def test_finished_job_is_voted_relayed_applied_and_personalized(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    creator_id, key = await account_with_key(runtime)
    signed_in = await session_for(runtime, creator_id)
    wallet = (await client.post("/api/v1/user/wallets/custodial", headers=bearer(signed_in))).json()
    style = await client.post(
        "/api/music/style",
        headers=bearer(key),
        json={"wallet": wallet["address"], "truck_style": "graffiti", "mood": "upbeat"},
    )
    assert style.json()["music_genre"] == "hip-hop"

    grid = asgi_client(client, key)
    job = await grid.generate(
        {
            "kind": "image",
            "prompt": "chrome truck at dusk",
            "width": 64,
            "height": 64,
            "wallet": wallet["address"],
        }
    )
    _, volunteer = await account_with_key(runtime)
    async with worker_loop(client, volunteer, "render", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), 60)
    await grid.close()
    await drain_tasks(runtime)  # ArtifactAccepted → the job's proposal

    proposal = await client.get(f"/api/proposals/{job.id}")
    assert proposal.status_code == 200, proposal.text
    assert proposal.json()["job_id"] == str(job.id)
    assert proposal.json()["strategy"] == "verified-wallets"  # fresh keys are no votes
    assert proposal.json()["chain_key"] == "0x" + job.id.bytes.hex() + "00" * 16

    sybil = await signed_vote(client, str(job.id), Account.create(), "approve", key="job_id")
    refused = await client.post("/api/vote", json=sybil)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/no-voting-power")
    voters = [await verified_voter(client, runtime) for _ in range(3)]
    for account, choice in zip(voters, ["approve", "approve", "reject"], strict=True):
        body = await signed_vote(
            client, str(job.id), account, choice, reason=f"{choice}: lighting", key="job_id"
        )
        assert (await client.post("/api/vote", json=body)).status_code == 201
    tally = (await client.get(f"/api/vote/{job.id}")).json()
    assert tally["tally"] == {"approve": "2", "reject": "1"}
    assert tally["quorum"]["reached"] is True

    await scheduled.chain_tick(runtime)  # mirrored (relayed votes only), relayed, indexed back
    synced = (await client.get(f"/api/vote/{job.id}")).json()
    assert [v["relay_status"] for v in synced["votes"]] == ["confirmed"] * 3
    chain = await chain_for(runtime)

    def vote_directly(c: EvmChain) -> str:  # a funded key of its own, voting on chain itself
        call = c.voting.functions.voteOnUpgrade(job.id.bytes + bytes(16), True, "sybil")
        try:
            call.transact({"from": c.w3.eth.accounts[5]})
        except Exception as exc:
            return error_name(exc, c.voting.abi)
        return "accepted"

    assert await chain.run(vote_directly) == "RelayedOnly"

    # the on-chain window (off-chain window + relay grace) passes; anyone may apply
    window = runtime.settings.governance_job_window_s + runtime.settings.chain_relay_grace_s
    tester = chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    await chain.run(lambda c: tester.time_travel(int(time.time()) + window + 60))
    report = await scheduled.chain_tick(runtime)
    assert report.applied == 1
    applied = (await client.get(f"/api/proposals/{job.id}")).json()
    assert applied["chain_outcome"] == "applied"

    usage_before = (await client.get("/api/v1/user/usage", headers=bearer(key))).json()
    await drain_tasks(runtime)  # governance.upgrade_applied → music personalization
    async with runtime.sessions() as session:
        tracks = list(
            await session.scalars(
                select(GenerationRequest).where(
                    GenerationRequest.user_id == creator_id, GenerationRequest.kind == "music"
                )
            )
        )
    assert len(tracks) == 1
    assert tracks[0].options == {"personalizes": str(job.id)}
    assert tracks[0].params["genre"] == "hip-hop"
    usage = (await client.get("/api/v1/user/usage", headers=bearer(key))).json()
    assert (usage["used"], usage["reserved"]) == (usage_before["used"], usage_before["reserved"])
    again = await scheduled.chain_tick(
        runtime
    )  # applyUpgrade twice is refused on chain; nothing happens
    assert again.applied == 0
