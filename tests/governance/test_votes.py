"""Signed off-chain votes: verification, strategies, tallies, and every attack the issue names."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from atelier.core.runtime import Runtime
from atelier.economy import service as ledger
from atelier.governance import ballots
from atelier.server.app import create_app
from tests.governance.helpers import (
    external_node,
    give_tokens,
    proposal,
    sign,
    signed_vote,
    typed_data,
)
from tests.grid.helpers import account_with_key, session_for
from tests.helpers import bearer


async def _votes(client: httpx.AsyncClient, some_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/vote/{some_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_digest_matches_eth_account_encoder() -> None:
    domain = ballots.Domain(31337, str(Account.create().address))
    voter = Account.create()
    ballot = ballots.Ballot(keccak(text="p"), voter.address, "approve", "ünïcode ✓", 1_700_000_000)
    typed = ballots.typed_data(domain, ballot)
    signable = encode_typed_data(full_message=typed)
    assert ballots.digest(domain, ballot) == keccak(
        b"\x19" + signable.version + signable.header + signable.body
    )
    assert ballots.recover(domain, ballot, sign(voter, typed)) == voter.address


async def test_three_wallets_vote_and_the_tally_is_right(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, token = await account_with_key(runtime)
    created = await proposal(client, token, quorum="3")
    assert created["chain_key"].startswith("0x") and created["result"]["state"] == "active"
    voters = [Account.create() for _ in range(3)]
    for account, choice in zip(voters, ["approve", "approve", "reject"], strict=True):
        body = await signed_vote(client, created["id"], account, choice, reason=f"{choice}!")
        stored = await client.post("/api/vote", json=body)
        assert stored.status_code == 201, stored.text
        assert stored.json()["vote"]["power"] == "1"
    result = await _votes(client, created["id"])
    assert result["tally"] == {"approve": "2", "reject": "1"}
    assert result["voters"] == {"approve": 2, "reject": 1}
    assert result["quorum"] == {"required": "3", "participation": "3", "reached": True}
    assert result["state"] == "active" and result["outcome"] is None
    assert {v["reason"] for v in result["votes"]} == {"approve!", "reject!"}
    # anyone can re-verify every stored vote from what the API returns
    for vote in result["votes"]:
        ballot = ballots.Ballot(
            bytes.fromhex(created["chain_key"][2:]),
            vote["voter"],
            vote["vote"],
            vote["reason"],
            vote["timestamp"],
        )
        domain = ballots.Domain(result["domain"]["chainId"], result["domain"]["verifyingContract"])
        assert ballots.recover(domain, ballot, vote["signature"]) == vote["voter"]


async def test_forged_and_malformed_signatures(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
    victim, forger = Account.create(), Account.create()
    typed = await typed_data(client, created["id"], victim.address, "approve")
    body = {
        "proposal_id": created["id"],
        "wallet": victim.address,
        "vote": "approve",
        "timestamp": typed["message"]["timestamp"],
        "signature": sign(forger, typed),
    }
    forged = await client.post("/api/vote", json=body)
    assert forged.status_code == 403 and forged.json()["type"].endswith("/signature-mismatch")
    # the right signature over different words (choice changed after signing)
    tampered = await client.post(
        "/api/vote", json={**body, "vote": "reject", "signature": sign(victim, typed)}
    )
    assert tampered.status_code == 403
    for bad in ("0x1234", "zz" * 65, "0x" + "00" * 65):
        malformed = await client.post("/api/vote", json={**body, "signature": bad})
        assert malformed.status_code == 422, malformed.text
        assert malformed.json()["type"].endswith("/malformed-signature")
    # s in the upper half: the malleable twin of a valid signature
    raw = bytes.fromhex(sign(victim, typed)[2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = raw[:32] + (n - int.from_bytes(raw[32:64], "big")).to_bytes(32, "big")
    twin = "0x" + (high_s + bytes([55 - raw[64]])).hex()
    assert (await client.post("/api/vote", json={**body, "signature": twin})).status_code == 422
    assert (await _votes(client, created["id"]))["votes"] == []


async def test_domain_separation(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Signatures made for another proposal, contract or chain id do not count here."""
    _, token = await account_with_key(runtime)
    target, other = await proposal(client, token), await proposal(client, token)
    voter = Account.create()
    typed = await typed_data(client, target["id"], voter.address, "approve")
    body = {
        "proposal_id": target["id"],
        "wallet": voter.address,
        "vote": "approve",
        "timestamp": typed["message"]["timestamp"],
    }
    variants = [
        {**typed, "message": {**typed["message"], "proposal": other["chain_key"]}},
        {**typed, "domain": {**typed["domain"], "verifyingContract": Account.create().address}},
        {**typed, "domain": {**typed["domain"], "chainId": 1}},
        {**typed, "domain": {**typed["domain"], "name": "SomethingElse"}},
    ]
    for variant in variants:
        response = await client.post("/api/vote", json={**body, "signature": sign(voter, variant)})
        assert response.status_code == 403, variant
    ok = await client.post("/api/vote", json={**body, "signature": sign(voter, typed)})
    assert ok.status_code == 201


async def test_replays_copies_and_changes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, token = await account_with_key(runtime)
    changeable = await proposal(client, token, allow_vote_change=True)
    voter = Account.create()
    now = int(time.time())
    first = await signed_vote(client, changeable["id"], voter, "approve", timestamp=now - 10)
    assert (await client.post("/api/vote", json=first)).status_code == 201
    copy = await client.post("/api/vote", json=first)
    assert copy.status_code == 200 and copy.json()["created"] is False
    second = await signed_vote(client, changeable["id"], voter, "reject", timestamp=now - 5)
    changed = await client.post("/api/vote", json=second)
    assert changed.status_code == 201 and changed.json()["vote"]["vote"] == "reject"
    assert (changed.json()["created"], changed.json()["replaced"]) == (False, True)
    replayed = await client.post("/api/vote", json=first)  # the old vote, replayed
    assert replayed.status_code == 409 and replayed.json()["type"].endswith("/stale-vote")
    assert (await _votes(client, changeable["id"]))["tally"] == {"approve": "0", "reject": "1"}
    future = await signed_vote(client, changeable["id"], voter, "approve", timestamp=now + 3600)
    assert (await client.post("/api/vote", json=future)).status_code == 422

    fixed = await proposal(client, token)
    once = await signed_vote(client, fixed["id"], voter, "approve")
    assert (await client.post("/api/vote", json=once)).status_code == 201
    other = await signed_vote(client, fixed["id"], voter, "reject", timestamp=now + 1)
    again = await client.post("/api/vote", json=other)
    assert again.status_code == 409 and again.json()["type"].endswith("/already-voted")


async def test_hundred_concurrent_copies_store_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
    body = await signed_vote(client, created["id"], Account.create(), "approve")
    responses = await asyncio.gather(*(client.post("/api/vote", json=body) for _ in range(100)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(200) == 99, statuses
    result = await _votes(client, created["id"])
    assert len(result["votes"]) == 1 and result["tally"]["approve"] == "1"


async def test_window(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, token = await account_with_key(runtime)
    voter = Account.create()
    later = await proposal(
        client, token, starts_at="2199-01-01T00:00:00Z", ends_at="2199-01-02T00:00:00Z"
    )
    early = await client.post(
        "/api/vote", json=await signed_vote(client, later["id"], voter, "approve")
    )
    assert early.status_code == 409 and early.json()["type"].endswith("/voting-not-open")
    short = await proposal(client, token, seconds=1.5)
    body = await signed_vote(client, short["id"], voter, "approve")
    await asyncio.sleep(2)
    late = await client.post("/api/vote", json=body)
    assert late.status_code == 409 and late.json()["type"].endswith("/voting-closed")
    closed = await _votes(client, short["id"])
    assert closed["state"] == "closed" and closed["outcome"] == "no-quorum"


async def test_token_weighted_votes_use_the_snapshot(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, token = await account_with_key(runtime)
    holder, latecomer, nobody = Account.create(), Account.create(), Account.create()
    await give_tokens(runtime, holder.address, 250 * 10**18)
    created = await proposal(client, token, strategy="erc20")
    await give_tokens(runtime, latecomer.address, 10**23)  # bought after the snapshot
    stored = await client.post(
        "/api/vote", json=await signed_vote(client, created["id"], holder, "approve")
    )
    assert stored.status_code == 201 and stored.json()["vote"]["power"] == str(250 * 10**18)
    for account in (latecomer, nobody):
        refused = await client.post(
            "/api/vote", json=await signed_vote(client, created["id"], account, "reject")
        )
        assert refused.status_code == 403 and refused.json()["type"].endswith("/no-voting-power")

    quadratic = await proposal(
        client, token, strategy="quadratic", strategy_params={"base": "erc20"}
    )
    sqrt = await client.post(
        "/api/vote", json=await signed_vote(client, quadratic["id"], holder, "approve")
    )
    assert abs(float(sqrt.json()["vote"]["power"]) - math.sqrt(250 * 10**18)) < 1e-3


async def test_ledger_and_quadratic_ledger(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, token = await account_with_key(runtime)
    member = Account.create()
    async with runtime.sessions() as session, session.begin():
        await ledger.post_entry(session, member.address, 16, "contributor credit")
    plain = await proposal(client, token, strategy="ledger")
    square = await proposal(client, token, strategy="quadratic", strategy_params={"base": "ledger"})
    async with runtime.sessions() as session, session.begin():  # after the snapshots: no weight
        await ledger.post_entry(session, member.address, 1000, "late credit")
    a = await client.post(
        "/api/vote", json=await signed_vote(client, plain["id"], member, "approve")
    )
    b = await client.post(
        "/api/vote", json=await signed_vote(client, square["id"], member, "approve")
    )
    assert a.json()["vote"]["power"] == "16"
    assert b.json()["vote"]["power"] == "4.000000"
    assert plain["chain_status"] == "off"  # ledger power cannot be weighed on chain


async def test_bad_input(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
    voter = Account.create()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("wallet", {"wallet": "0xnot-an-address-at-all-nope-nope-nope-no"}),
        ("vote", {"vote": "maybe"}),
        ("reason", {"reason": "x" * 5001}),
    ]
    for field, params in cases:
        query = {"wallet": voter.address, "vote": "approve", **params}
        response = await client.get(f"/api/vote/{created['id']}/typed-data", params=query)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    body = await signed_vote(client, created["id"], voter, "approve")
    for broken in (
        {**body, "reason": "y" * 5001},
        {**body, "job_id": created["id"]},  # both ids
        {k: v for k, v in body.items() if k != "proposal_id"},  # neither
        {**body, "vote": "maybe"},
        {**body, "timestamp": "yesterday"},
        {k: v for k, v in body.items() if k != "timestamp"},
    ):
        response = await client.post("/api/vote", json=broken)
        assert response.status_code == 422, response.text
    missing = await client.get("/api/vote/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/proposal-not-found")
    bad_proposal = await client.post(
        "/api/proposals",
        headers=bearer(token),
        json={"title": "x", "ends_at": "2000-01-01T00:00:00Z", "choices": ["a", "a"]},
    )
    assert bad_proposal.status_code == 422
    assert {e["loc"][-1] for e in bad_proposal.json()["errors"]} >= {"choices", "ends_at"}
    naive = await client.post(
        "/api/proposals",
        headers=bearer(token),
        json={"title": "x", "ends_at": "2099-01-01T00:00:00"},
    )  # no time zone: which moment?
    assert naive.status_code == 422 and naive.json()["errors"][0]["loc"][-1] == "ends_at"
    not_a_token = await client.post(
        "/api/proposals",
        headers=bearer(token),
        json={
            "title": "x",
            "ends_at": "2099-01-01T00:00:00Z",
            "strategy": "erc20",
            "strategy_params": {"token": "0xnot-an-address"},
        },
    )
    assert not_a_token.status_code == 422
    assert not_a_token.json()["type"].endswith("/invalid-proposal")
    assert "token" in not_a_token.json()["detail"]
    unsigned = await client.post(
        "/api/vote", json={k: v for k, v in body.items() if k != "signature"}
    )
    assert unsigned.status_code == 401 and unsigned.json()["type"].endswith("/signature-required")
    assert (await _votes(client, created["id"]))["votes"] == []


async def test_platform_held_wallet_votes_without_a_signature(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id, token = await account_with_key(runtime)
    signed_in = await session_for(runtime, user_id)
    wallet = await client.post("/api/v1/user/wallets/custodial", headers=bearer(signed_in))
    assert wallet.status_code == 201, wallet.text
    address = wallet.json()["address"]
    created = await proposal(client, token)
    body = {"proposal_id": created["id"], "wallet": address, "vote": "approve", "reason": "held"}
    stored = await client.post("/api/vote", headers=bearer(token), json=body)
    assert stored.status_code == 201, stored.text
    assert stored.json()["vote"]["signature"].startswith("0x")
    _, stranger = await account_with_key(runtime)
    refused = await client.post("/api/vote", headers=bearer(stranger), json=body)
    assert refused.status_code == 403


@asynccontextmanager
async def _on_external_chain(runtime: Runtime, rpc_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of this Atelier configured for an external node at `rpc_url` (same database)."""
    settings = runtime.settings.model_copy(
        update={
            "chain_rpc_url": rpc_url,
            "chain_token_address": "0x" + "11" * 20,
            "chain_voting_address": "0x" + "22" * 20,
        }
    )
    app = create_app(settings, runtime=dataclasses.replace(runtime, settings=settings, adapters={}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=settings.origin
    ) as other:
        yield other


async def test_an_unreachable_chain_is_a_clear_503(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, token = await account_with_key(runtime)
    created = await proposal(client, token)
    async with _on_external_chain(runtime, "http://127.0.0.1:9") as other:
        listed = await other.get("/api/proposals")
        assert listed.status_code == 200  # what needs no chain still works
        for response in (
            await other.get(f"/api/vote/{created['id']}"),
            await other.get(
                f"/api/vote/{created['id']}/typed-data",
                params={"wallet": Account.create().address, "vote": "approve"},
            ),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/chain-unavailable")


async def test_an_external_node_lends_no_account_and_one_in_error_is_a_clear_503(
    runtime: Runtime,
) -> None:
    """On an external chain the platform sends from its own sealed key (the operator funds
    it: GET /api/chain names it), never from an account the node holds."""
    from atelier.chain.evm.embedded import platform_key

    with external_node() as url:
        async with _on_external_chain(runtime, url) as other:
            answer = await other.get("/api/chain")
    assert answer.status_code == 200, answer.text
    assert answer.json()["relayer"] == platform_key(runtime.settings).address
    with external_node(broken=True) as url:
        async with _on_external_chain(runtime, url) as other:
            broken = await other.get("/api/chain")
    assert broken.status_code == 503, broken.text
    assert broken.json()["type"].endswith("/chain-unavailable")
    assert "missing trie node" in broken.json()["detail"]
