"""AiNFT's DAO: proposals weighed by an SPL token's balances at the snapshot slot, votes
signed by Solana wallets (ed25519 over the vote's message), and a treasury that spends, and
a platform fee that changes, only as a passed proposal says, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select, update

from atelier.chain.solana import programs
from atelier.chain.solana.client import send_fresh
from atelier.core.runtime import Runtime
from atelier.economy.models import MoneyTransaction
from atelier.governance.models import Proposal
from atelier.market import scheduled
from atelier.market.trading import build
from tests.grid.helpers import account_with_key
from tests.helpers import bearer

SOL = programs.LAMPORTS_PER_SOL


async def _token(runtime: Runtime, holders: dict[Pubkey, int]) -> tuple[Pubkey, Keypair]:
    """A fungible SPL token (0 decimals) with these balances; its mint and authority."""
    solana = runtime.adapters["solana"]
    authority, mint = Keypair(), Keypair()
    await solana.airdrop(authority.pubkey(), 10 * SOL)
    from solders.system_program import CreateAccountParams, create_account

    rent = await solana.rent_exempt(programs.MINT_SIZE)
    instructions = [
        create_account(
            CreateAccountParams(
                from_pubkey=authority.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=rent,
                space=programs.MINT_SIZE,
                owner=programs.TOKEN_PROGRAM,
            )
        ),
        programs.initialize_mint2(mint.pubkey(), 0, authority.pubkey()),
    ]
    for owner, amount in holders.items():
        instructions += [
            programs.create_associated_token_account_idempotent(
                authority.pubkey(), owner, mint.pubkey()
            ),
            programs.mint_to(
                mint.pubkey(),
                programs.associated_token_address(owner, mint.pubkey()),
                authority.pubkey(),
                amount,
            ),
        ]
    await send_fresh(
        solana, lambda h: build(instructions, authority.pubkey(), [authority, mint], h)
    )
    return mint.pubkey(), authority


async def _move(runtime: Runtime, mint: Pubkey, source: Keypair, to: Pubkey, amount: int) -> None:
    solana = runtime.adapters["solana"]
    await solana.airdrop(source.pubkey(), SOL)
    instructions = [
        programs.create_associated_token_account_idempotent(source.pubkey(), to, mint),
        programs.transfer_checked(
            programs.associated_token_address(source.pubkey(), mint),
            mint,
            programs.associated_token_address(to, mint),
            source.pubkey(),
            amount,
            0,
        ),
    ]
    await send_fresh(solana, lambda h: build(instructions, source.pubkey(), [source], h))


async def _vote(
    client: httpx.AsyncClient,
    proposal_id: str,
    wallet: Keypair,
    choice: str,
    signer: Keypair | None = None,
) -> httpx.Response:
    message = (
        await client.get(
            f"/api/vote/{proposal_id}/message",
            params={"wallet": str(wallet.pubkey()), "vote": choice},
        )
    ).json()
    signature = (signer or wallet).sign_message(message["message"].encode())
    return await client.post(
        "/api/vote",
        json={
            "proposal_id": proposal_id,
            "wallet": str(wallet.pubkey()),
            "vote": choice,
            "timestamp": message["timestamp"],
            "signature": str(signature),
        },
    )


async def _close(runtime: Runtime, proposal_id: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Proposal)
            .where(Proposal.id == uuid.UUID(proposal_id))
            .values(
                starts_at=datetime.now(UTC) - timedelta(hours=1),
                ends_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )


@pytest.fixture
async def dao(client: httpx.AsyncClient, runtime: Runtime) -> dict:  # type: ignore[type-arg]
    _, author = await account_with_key(runtime)
    _, member = await account_with_key(runtime)
    held = (await client.post("/api/market/wallet", headers=bearer(member))).json()["address"]
    alice, carol = Keypair(), Keypair()
    mint, _ = await _token(
        runtime, {alice.pubkey(): 600, Pubkey.from_string(held): 300, carol.pubkey(): 100}
    )
    return {
        "author": author,
        "member": member,
        "held": held,
        "alice": alice,
        "carol": carol,
        "mint": mint,
    }


async def test_an_spl_proposal_spends_from_the_treasury_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    dao: dict,  # type: ignore[type-arg]
) -> None:
    market = (await client.get("/api/market")).json()
    reserve = Pubkey.from_string(market["reserve"]["address"])
    await runtime.adapters["solana"].airdrop(reserve, 5 * SOL)
    grantee = Keypair().pubkey()
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    created = await client.post(
        "/api/proposals",
        headers=bearer(dao["author"]),
        json={
            "title": "Fund the harbour festival",
            "ends_at": ends,
            "strategy": "spl",
            "strategy_params": {"mint": str(dao["mint"])},
            "action": {"kind": "treasury-spend", "to": str(grantee), "lamports": 2 * SOL},
        },
    )
    assert created.status_code == 201, created.text
    proposal = created.json()
    assert proposal["strategy_params"]["slot"] >= 0
    assert proposal["chain_status"] == "off"  # Solana votes are never relayed to the EVM chain
    # after the snapshot, alice moves her tokens: they still count for her, not for dave
    dave = Keypair()
    await _move(runtime, dao["mint"], dao["alice"], dave.pubkey(), 600)
    assert (await _vote(client, proposal["id"], dave, "approve")).json()[
        "type"
    ] == "/problems/no-voting-power"
    forged = await _vote(client, proposal["id"], dao["alice"], "approve", signer=dave)
    assert forged.status_code == 403
    assert forged.json()["type"] == "/problems/signature-mismatch"
    malformed = await client.post(
        "/api/vote",
        json={
            "proposal_id": proposal["id"],
            "wallet": str(dao["alice"].pubkey()),
            "vote": "approve",
            "timestamp": 1,
            "signature": "not-a-signature",
        },
    )
    assert malformed.status_code == 422
    evm = await client.post(
        "/api/vote",
        json={
            "proposal_id": proposal["id"],
            "wallet": "0x" + "ab" * 20,
            "vote": "approve",
            "timestamp": 1,
            "signature": "0x" + "11" * 65,
        },
    )
    assert evm.status_code == 422
    cast = await _vote(client, proposal["id"], dao["alice"], "approve")
    assert cast.status_code == 201, cast.text
    assert cast.json()["vote"]["power"] in ("600", "600.0")
    # the member votes with the wallet Atelier holds for them: no signature needed
    held = await client.post(
        "/api/vote",
        headers=bearer(dao["member"]),
        json={"proposal_id": proposal["id"], "wallet": dao["held"], "vote": "reject"},
    )
    assert held.status_code == 201, held.text
    early = await client.post(
        f"/api/market/treasury/{proposal['id']}/execute", headers=bearer(dao["author"])
    )
    assert early.status_code == 409
    await _close(runtime, proposal["id"])
    tally = (await client.get(f"/api/proposals/{proposal['id']}")).json()["result"]
    assert tally["outcome"] == "passed"
    assert tally["tally"]["approve"] in ("600", "600.0")
    before = await runtime.adapters["solana"].balance(grantee)
    report = await scheduled.tick(runtime)
    assert report.executed >= 1
    assert await runtime.adapters["solana"].balance(grantee) - before == 2 * SOL
    again = await client.post(
        f"/api/market/treasury/{proposal['id']}/execute", headers=bearer(dao["author"])
    )
    assert again.status_code == 200
    assert again.json()["outcome"] == "executed"
    assert await runtime.adapters["solana"].balance(grantee) - before == 2 * SOL  # once
    async with runtime.sessions() as session:
        spent = await session.scalar(
            select(MoneyTransaction).where(
                MoneyTransaction.source == f"solana:{again.json()['signature']}"
            )
        )
    assert spent is not None


async def test_a_fee_change_applies_only_when_passed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    dao: dict,  # type: ignore[type-arg]
) -> None:
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()

    async def propose(fee: int) -> str:
        answer = await client.post(
            "/api/proposals",
            headers=bearer(dao["author"]),
            json={
                "title": f"Fee {fee}",
                "ends_at": ends,
                "strategy": "spl",
                "strategy_params": {"mint": str(dao["mint"])},
                "action": {"kind": "market-fee", "fee_bps": fee},
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    bad = await client.post(
        "/api/proposals",
        headers=bearer(dao["author"]),
        json={
            "title": "x",
            "ends_at": ends,
            "strategy": "spl",
            "strategy_params": {"mint": str(dao["mint"])},
            "action": {"kind": "market-fee", "fee_bps": 20_000},
        },
    )
    assert bad.status_code == 422
    no_mint = await client.post(
        "/api/proposals",
        headers=bearer(dao["author"]),
        json={"title": "x", "ends_at": ends, "strategy": "spl"},
    )
    assert no_mint.status_code == 422
    rejected, passed = await propose(9_000), await propose(100)
    assert (await _vote(client, rejected, dao["carol"], "reject")).status_code == 201
    assert (await _vote(client, passed, dao["carol"], "approve")).status_code == 201
    await _close(runtime, rejected)
    await _close(runtime, passed)
    await scheduled.tick(runtime)
    treasury = (await client.get("/api/market/treasury")).json()
    outcomes = {a["proposal_id"]: a["outcome"] for a in treasury["actions"]}
    assert outcomes[rejected] == "rejected"
    assert outcomes[passed] == "executed"
    assert treasury["fee_bps"] == 100
    assert (await client.get("/api/market")).json()["fee_bps"] == 100
