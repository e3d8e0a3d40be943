"""Relaying signed votes to the embedded chain, indexing them back, and surviving reorgs."""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account
from sqlalchemy import func, select, update

from atelier.chain.evm.client import EvmChain, chain_for
from atelier.chain.evm.models import ChainLog
from atelier.core.runtime import Runtime
from atelier.governance import relay
from atelier.governance.models import Proposal
from tests.governance.helpers import give_tokens, proposal, signed_vote
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
    _, token = await account_with_key(runtime)
    created = await proposal(client, token, quorum="2")
    assert created["chain_status"] == "pending"
    voters = [Account.create() for _ in range(3)]
    for account, choice in zip(voters, ["approve", "approve", "reject"], strict=True):
        body = await signed_vote(client, created["id"], account, choice, reason="on chain")
        assert (await client.post("/api/vote", json=body)).status_code == 201

    report = await relay.tick(runtime)
    assert (report.mirrored, report.relayed, report.failed) == (1, 3, 0)
    result = await _votes(client, created["id"])
    assert result["proposal"]["chain_status"] == "mirrored"
    assert {v["relay_status"] for v in result["votes"]} == {"confirmed"}
    assert all(v["chain_tx_hash"] for v in result["votes"])
    assert await _on_chain_tally(runtime, created["chain_key"]) == (2, 1)
    assert result["tally"] == {"approve": "2", "reject": "1"}

    logs = await _log_count(runtime)
    again = await relay.tick(runtime)  # nothing new: no duplicate logs, no second relay
    assert (again.relayed, again.added) == (0, 0)
    assert await _log_count(runtime) == logs


async def test_vote_cast_directly_on_chain_is_synced(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
    await relay.tick(runtime)  # mirrored
    chain = await chain_for(runtime)
    key = bytes.fromhex(created["chain_key"][2:])
    direct_voter = chain.w3.eth.accounts[3]

    def vote(c: EvmChain) -> None:
        c.voting.functions.voteOnUpgrade(key, False, "from my own wallet").transact(
            {"from": direct_voter}
        )

    await chain.run(vote)
    await relay.tick(runtime)
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
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
    chain = await chain_for(runtime)
    key = bytes.fromhex(created["chain_key"][2:])
    fork_point = await chain.run(lambda c: c.rpc("evm_snapshot", [])["result"])

    signed = Account.create()
    body = await signed_vote(client, created["id"], signed, "approve", reason="signed")
    assert (await client.post("/api/vote", json=body)).status_code == 201
    await relay.tick(runtime)  # mirrored, relayed, confirmed
    direct_voter = chain.w3.eth.accounts[4]
    await chain.run(lambda c: c.voting.functions.voteOnUpgrade(key, False, "direct").transact(
        {"from": direct_voter}))  # fmt: skip
    await relay.tick(runtime)
    before = await _votes(client, created["id"])
    assert sorted(v["source"] for v in before["votes"]) == ["chain", "offchain"]
    first_tx = next(v for v in before["votes"] if v["source"] == "offchain")["chain_tx_hash"]

    # The chain reorganises: everything since the fork point is replaced by other blocks.
    head = await chain.run(lambda c: int(c.w3.eth.block_number))
    await chain.run(lambda c: c.rpc("evm_revert", [fork_point]))
    for _ in range(3):  # a longer, different branch
        await give_tokens(runtime, Account.create().address, 1)
    assert await chain.run(lambda c: int(c.w3.eth.block_number)) > head - 3

    report = await relay.tick(runtime)
    assert report.removed >= 3 and report.reorg_at is not None
    after = await _votes(client, created["id"])
    # the chain-only vote is gone; the signed vote waits to be relayed again
    assert [(v["voter"], v["relay_status"]) for v in after["votes"]] == [
        (signed.address, "pending")
    ]
    assert after["tally"] == {"approve": "1", "reject": "0"}

    await relay.tick(runtime)  # mirror again, relay again, index again
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
    batch = await client.post("/chain/rpc", json=[
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"},
    ])  # fmt: skip
    assert [a["id"] for a in batch.json()] == [1, 2]
    assert int(batch.json()[0]["result"], 16) == info["chain_id"]
    # a revert comes back as JSON-RPC error 3 with the custom error's data
    chain = await chain_for(runtime)
    data = chain.voting.encode_abi("applyUpgrade", [b"\x01" * 32])
    call = {"jsonrpc": "2.0", "id": 3, "method": "eth_call",
            "params": [{"to": info["voting"], "data": data}, "latest"]}  # fmt: skip
    reverted = (await client.post("/chain/rpc", json=call)).json()
    assert reverted["error"]["code"] == 3
    assert reverted["error"]["data"].startswith("0x")
    unknown = (await client.post("/chain/rpc", json={"id": 4, "method": "eth_nope"})).json()
    assert "error" in unknown
    for bad in (b"not json", b"{}", b"[]", b'[{"id": 1}]'):
        response = await client.post("/chain/rpc", content=bad,
                                     headers={"content-type": "application/json"})  # fmt: skip
        assert response.status_code == 422, bad
        assert response.json()["type"].endswith("/invalid-json-rpc")


async def test_a_vote_takes_the_relay_status_the_proposal_has_when_it_lands(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Ingestion keeps a proposal's fixed terms per process, but whether its votes go on chain
    can change after a first vote (the relayer gives up mirroring a proposal the chain refuses):
    each vote reads that from the proposal as it lands."""
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
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
    _, token = await account_with_key(runtime)
    created = await proposal(client, token, choices=["Approve", " REJECT "])
    assert created["choices"] == ["approve", "reject"]
    assert created["chain_status"] == "pending"  # the contract's approve/reject, so relayed
