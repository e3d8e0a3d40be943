"""Relaying signed votes to the embedded chain, indexing them back, and surviving reorgs."""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account
from sqlalchemy import func, select, update

from atelier.chain.evm.client import EvmChain, chain_for
from atelier.chain.evm.models import ChainLog
from atelier.core.runtime import Runtime
from atelier.governance import relay, scheduled
from atelier.governance.models import Proposal
from tests.governance.helpers import (
    give_tokens,
    proposal,
    signed_vote,
    validator_key,
    verified_voter,
)
from tests.grid.helpers import account_with_key


async def _votes(client: httpx.AsyncClient, some_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/vote/{some_id}")).json()
    return body


async def _on_chain_tally(runtime: Runtime, chain_key: str) -> tuple[int, int]:
    chain = await chain_for(runtime)
    key = bytes.fromhex(chain_key[2:])
    approve, reject = await chain.run(lambda c: c.voting.functions.getTally(key).call())
    return int(approve), int(reject)


async def _log_count(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ChainLog)) or 0)


async def test_votes_are_relayed_and_indexed_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    created = await proposal(client, await validator_key(runtime), quorum="2")
    assert created["chain_status"] == "pending"
    voters = [await verified_voter(client, runtime) for _ in range(3)]
    for account, choice in zip(voters, ["approve", "approve", "reject"], strict=True):
        body = await signed_vote(client, created["id"], account, choice, reason="on chain")
        assert (await client.post("/api/vote", json=body)).status_code == 201

    report = await scheduled.chain_tick(runtime)
    assert (report.mirrored, report.relayed, report.failed) == (1, 3, 0)
    result = await _votes(client, created["id"])
    assert result["proposal"]["chain_status"] == "mirrored"
    assert {v["relay_status"] for v in result["votes"]} == {"confirmed"}
    assert all(v["chain_tx_hash"] for v in result["votes"])
    assert await _on_chain_tally(runtime, created["chain_key"]) == (2, 1)
    assert result["tally"] == {"approve": "2", "reject": "1"}

    logs = await _log_count(runtime)
    again = await scheduled.chain_tick(runtime)  # nothing new: no duplicate logs, no second relay
    assert (again.relayed, again.added) == (0, 0)
    assert await _log_count(runtime) == logs


async def test_vote_cast_directly_on_chain_is_synced(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    created = await proposal(client, await validator_key(runtime))
    await scheduled.chain_tick(runtime)  # mirrored
    chain = await chain_for(runtime)
    key = bytes.fromhex(created["chain_key"][2:])
    direct_voter = chain.w3.eth.accounts[3]

    def vote(c: EvmChain) -> None:
        c.voting.functions.voteOnUpgrade(key, False, "from my own wallet").transact(
            {"from": direct_voter}
        )

    await chain.run(vote)
    await scheduled.chain_tick(runtime)
    result = await _votes(client, created["id"])
    assert [(v["voter"], v["vote"], v["source"]) for v in result["votes"]] == [
        (direct_voter, "reject", "chain")
    ]
    # the same wallet cannot then vote off chain as well (eth-tester's keys are 1, 2, 3, …)
    same_wallet = Account.from_key((4).to_bytes(32, "big"))
    assert same_wallet.address == direct_voter
    twice = await client.post(
        "/api/vote", json=await signed_vote(client, created["id"], same_wallet, "approve")
    )
    assert twice.status_code == 409 and twice.json()["type"].endswith("/already-voted")


async def test_reorg_leaves_no_phantom_votes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    created = await proposal(client, await validator_key(runtime))
    chain = await chain_for(runtime)
    key = bytes.fromhex(created["chain_key"][2:])
    fork_point = await chain.run(lambda c: c.rpc("evm_snapshot", [])["result"])

    signed = await verified_voter(client, runtime)
    body = await signed_vote(client, created["id"], signed, "approve", reason="signed")
    assert (await client.post("/api/vote", json=body)).status_code == 201
    await scheduled.chain_tick(runtime)  # mirrored, relayed, confirmed
    direct_voter = chain.w3.eth.accounts[4]
    await chain.run(
        lambda c: c.voting.functions.voteOnUpgrade(key, False, "direct").transact(
            {"from": direct_voter}
        )
    )
    await scheduled.chain_tick(runtime)
    before = await _votes(client, created["id"])
    assert sorted(v["source"] for v in before["votes"]) == ["chain", "offchain"]
    first_tx = next(v for v in before["votes"] if v["source"] == "offchain")["chain_tx_hash"]

    # The chain reorganises: everything since the fork point is replaced by other blocks.
    head = await chain.run(lambda c: int(c.w3.eth.block_number))
    await chain.run(lambda c: c.rpc("evm_revert", [fork_point]))
    for _ in range(3):  # a longer, different branch
        await give_tokens(runtime, Account.create().address, 1)
    assert await chain.run(lambda c: int(c.w3.eth.block_number)) > head - 3

    report = await scheduled.chain_tick(runtime)
    assert report.removed >= 3 and report.reorg_at is not None
    after = await _votes(client, created["id"])
    # the chain-only vote is gone; the signed vote waits to be relayed again
    assert [(v["voter"], v["relay_status"]) for v in after["votes"]] == [
        (signed.address, "pending")
    ]
    assert after["tally"] == {"approve": "1", "reject": "0"}

    await scheduled.chain_tick(runtime)  # mirror again, relay again, index again
    final = await _votes(client, created["id"])
    assert [v["relay_status"] for v in final["votes"]] == ["confirmed"]
    assert final["votes"][0]["chain_tx_hash"] != first_tx
    assert await _on_chain_tally(runtime, created["chain_key"]) == (1, 0)
    async with runtime.sessions() as session:  # only the new branch's logs remain
        hashes = set(await session.scalars(select(ChainLog.block_hash)))
    for block_hash in hashes:
        block = await chain.run(lambda c, h=block_hash: c.w3.eth.get_block(h))
        assert block["hash"].to_0x_hex() == block_hash


async def test_embedded_rpc_answers_as_a_node(client: httpx.AsyncClient, runtime: Runtime) -> None:
    info = (await client.get("/api/chain")).json()
    assert info["embedded"] is True and info["rpc_url"].endswith("/chain/rpc")
    batch = await client.post(
        "/chain/rpc",
        json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"},
        ],
    )
    assert [a["id"] for a in batch.json()] == [1, 2]
    assert int(batch.json()[0]["result"], 16) == info["chain_id"]
    # a revert comes back as JSON-RPC error 3 with the custom error's data
    chain = await chain_for(runtime)
    data = chain.voting.encode_abi("applyUpgrade", [b"\x01" * 32])
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "eth_call",
        "params": [{"to": info["voting"], "data": data}, "latest"],
    }
    reverted = (await client.post("/chain/rpc", json=call)).json()
    assert reverted["error"]["code"] == 3
    assert reverted["error"]["data"].startswith("0x")
    unknown = (await client.post("/chain/rpc", json={"id": 4, "method": "eth_nope"})).json()
    assert "error" in unknown
    for bad in (b"not json", b"{}", b"[]", b'[{"id": 1}]'):
        response = await client.post(
            "/chain/rpc", content=bad, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, bad
        assert response.json()["type"].endswith("/invalid-json-rpc")


async def test_a_vote_takes_the_relay_status_the_proposal_has_when_it_lands(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Ingestion keeps a proposal's fixed terms per process, but whether its votes go on chain
    can change after a first vote (the relayer gives up mirroring a proposal the chain refuses):
    each vote reads that from the proposal as it lands."""
    created = await proposal(client, await validator_key(runtime))
    first, second = Account.create(), Account.create()
    stored = await client.post(
        "/api/vote", json=await signed_vote(client, created["id"], first, "approve")
    )
    assert stored.json()["vote"]["relay_status"] == "pending"

    async with runtime.sessions() as session, session.begin():  # what mirror_proposals does
        await session.execute(
            update(Proposal).where(Proposal.id == created["id"]).values(chain_status="off")
        )
    later = await client.post(
        "/api/vote", json=await signed_vote(client, created["id"], second, "reject")
    )
    assert later.status_code == 201
    assert later.json()["vote"]["relay_status"] == "off"


async def test_choices_are_judged_relayable_as_they_are_stored(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    created = await proposal(client, await validator_key(runtime), choices=["Approve", " REJECT "])
    assert created["choices"] == ["approve", "reject"]
    assert created["chain_status"] == "pending"  # the contract's approve/reject, so relayed


async def test_the_relayers_gas_is_for_verified_people_within_a_budget(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Any fresh key used to be relayed at the relayer's cost, and any creator's proposal
    mirrored: on a real chain that drains the relayer."""
    _, creator_key = await account_with_key(runtime)
    unmirrored = await proposal(client, creator_key)
    assert unmirrored["chain_status"] == "off"  # a creator's proposal is decided off chain

    created = await proposal(client, await validator_key(runtime))
    stranger = Account.create()  # a fresh key, linked to no one: counted, but not relayed
    person = await verified_voter(client, runtime)
    for voter in (stranger, person):
        body = await signed_vote(client, created["id"], voter, "approve")
        assert (await client.post("/api/vote", json=body)).status_code == 201
    report = await scheduled.chain_tick(runtime)
    assert report.relayed == 1
    votes = {v["voter"]: v for v in (await _votes(client, created["id"]))["votes"]}
    assert votes[person.address]["relay_status"] == "confirmed"
    assert votes[stranger.address]["relay_status"] == "off"
    assert votes[stranger.address]["relay_error"] == relay.NOT_VERIFIED
    assert await _on_chain_tally(runtime, created["chain_key"]) == (1, 0)

    budget = runtime.settings.chain_relay_budget_daily
    runtime.settings.chain_relay_budget_daily = 1
    try:
        second = await proposal(client, await validator_key(runtime))
        await scheduled.chain_tick(
            runtime
        )  # mirrored: authored by a fresh validator, within budget
        user_id, _ = await account_with_key(runtime)
        wallets = [await _link(client, runtime, user_id) for _ in range(2)]
        for wallet in wallets:
            body = await signed_vote(client, second["id"], wallet, "approve")
            assert (await client.post("/api/vote", json=body)).status_code == 201
        await scheduled.chain_tick(runtime)
        statuses = sorted(
            v["relay_error"] or v["relay_status"]
            for v in (await _votes(client, second["id"]))["votes"]
        )
        assert statuses == sorted(["confirmed", relay.BUDGET_SPENT])
    finally:
        runtime.settings.chain_relay_budget_daily = budget


async def _link(client: httpx.AsyncClient, runtime: Runtime, user_id: Any) -> Any:
    from tests.grid.helpers import session_for
    from tests.helpers import bearer, eth_sign

    session = bearer(await session_for(runtime, user_id))
    account = Account.create()
    message = (
        await client.post(
            "/api/v1/user/wallets/challenge",
            headers=session,
            json={"chain": "evm", "address": account.address},
        )
    ).json()["message"]
    linked = await client.post(
        "/api/v1/user/wallets",
        headers=session,
        json={"chain": "evm", "message": message, "signature": eth_sign(account, message)},
    )
    assert linked.status_code == 201
    return account


async def test_a_signature_with_v_0_or_1_is_the_same_vote_and_relays(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Some wallets write v as 0/1: counted off chain, it could never go on chain
    (OpenZeppelin's ECDSA wants 27/28). Stored canonical, the same vote either way."""
    created = await proposal(client, await validator_key(runtime))
    voter = await verified_voter(client, runtime)
    body = await signed_vote(client, created["id"], voter, "approve")
    raw = bytes.fromhex(body["signature"][2:])
    low_v = "0x" + (raw[:64] + bytes([raw[64] - 27])).hex()
    stored = await client.post("/api/vote", json={**body, "signature": low_v})
    assert stored.status_code == 201
    assert stored.json()["vote"]["signature"] == body["signature"].lower()
    same = await client.post("/api/vote", json=body)  # the same vote with v = 27/28
    assert same.status_code == 200 and same.json()["created"] is False
    assert (await scheduled.chain_tick(runtime)).failed == 0
    [vote] = (await _votes(client, created["id"]))["votes"]
    assert vote["relay_status"] == "confirmed"
