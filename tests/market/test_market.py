"""The market end to end on the embedded Solana runtime: studios and their scoping, minting
a signed artifact, fixed-price sales, English and Dutch auctions, offers; every lamport of
every sale checked on chain and in the database, and the attacks the issue names."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlalchemy import select, update

from atelier.chain.solana import metaplex, programs
from atelier.chain.solana.client import TransactionRejected
from atelier.core.clock import now_utc
from atelier.core.runtime import Runtime
from atelier.economy.models import MoneyTransaction
from atelier.identity.service import wallets
from atelier.market import escrow, scheduled, trading
from atelier.market.models import Listing, Offer
from tests.grid.helpers import account_with_key, asgi_client, worker_loop
from tests.helpers import bearer, drain_tasks

SOL = programs.LAMPORTS_PER_SOL


@dataclass
class Person:
    user_id: uuid.UUID
    key: str
    address: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.key)


@dataclass
class World:
    creator: Person
    cocreator: Person
    buyer: Person
    rival: Person
    outsider: Person
    artifacts: list[uuid.UUID]
    studio_id: str
    collection_id: str


async def _person(client: httpx.AsyncClient, runtime: Runtime, wallet: bool = True) -> Person:
    user_id, key = await account_with_key(runtime)
    person = Person(user_id, key)
    if wallet:
        answer = await client.post("/api/market/wallet", headers=person.auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["held"] is True
        assert answer.json()["balance"] == runtime.settings.market_faucet_lamports
        person.address = answer.json()["address"]
    return person


@pytest.fixture(scope="module")
async def world(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    creator = await _person(client, runtime)
    cocreator, buyer, rival = [await _person(client, runtime) for _ in range(3)]
    outsider = await _person(client, runtime, wallet=False)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator.key)
    jobs = [
        await grid.generate({"kind": "image", "prompt": f"a lighthouse, study {n}"})
        for n in range(6)
    ]
    workdir = tmp_path_factory.mktemp("worker")
    async with worker_loop(client, volunteer, "market-w", workdir, max_jobs=6) as loop:
        await asyncio.wait_for(loop.run(), 120)
    await drain_tasks(runtime)
    artifacts = []
    for job in jobs:
        status = await grid.status(job.id)
        assert status.state == "done"
        assert status.result is not None
        artifacts.append(uuid.UUID(status.result["artifact_id"]))
    await grid.close()
    studio = await client.post(
        "/api/market/studios", headers=creator.auth, json={"name": "Lighthouse Works"}
    )
    assert studio.status_code == 201, studio.text
    collection = await client.post(
        "/api/market/collections",
        headers=creator.auth,
        json={
            "studio_id": studio.json()["id"],
            "name": "Lighthouses",
            "symbol": "LHT",
            "seller_fee_basis_points": 500,
            "creators": [
                {"address": creator.address, "share": 70},
                {"address": cocreator.address, "share": 30},
            ],
        },
    )
    assert collection.status_code == 201, collection.text
    return World(
        creator,
        cocreator,
        buyer,
        rival,
        outsider,
        artifacts,
        studio.json()["id"],
        collection.json()["id"],
    )


async def _minted(client: httpx.AsyncClient, world: World, index: int, name: str) -> dict:  # type: ignore[type-arg]
    draft = await client.post(
        "/api/market/nfts",
        headers=world.creator.auth,
        json={
            "collection_id": world.collection_id,
            "artifact_id": str(world.artifacts[index]),
            "name": name,
            "description": "from the grid",
        },
    )
    assert draft.status_code == 201, draft.text
    minted = await client.post(
        f"/api/market/nfts/{draft.json()['id']}/mint", headers=world.creator.auth
    )
    assert minted.status_code == 200, minted.text
    return minted.json()  # type: ignore[no-any-return]


def _solana(runtime: Runtime):  # type: ignore[no-untyped-def]
    return runtime.adapters["solana"]


async def _balances(runtime: Runtime, addresses: list[str]) -> dict[str, int]:
    solana = _solana(runtime)
    return {a: await solana.balance(Pubkey.from_string(a)) for a in addresses}


async def _holder_amount(runtime: Runtime, owner: str, mint: str) -> int:
    account = await _solana(runtime).account(
        programs.associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint))
    )
    holding = programs.parse_token_account(bytes(account.data)) if account else None
    return holding.amount if holding else 0


async def _market(client: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    return (await client.get("/api/market")).json()  # type: ignore[no-any-return]


async def test_studios_keep_their_drafts_to_themselves(
    client: httpx.AsyncClient, world: World
) -> None:
    draft = await client.post(
        "/api/market/nfts",
        headers=world.creator.auth,
        json={
            "collection_id": world.collection_id,
            "artifact_id": str(world.artifacts[5]),
            "name": "Draft",
        },
    )
    assert draft.status_code == 201
    nft_id = draft.json()["id"]
    for path in (
        f"/api/market/nfts/{nft_id}",
        f"/api/market/nfts/{nft_id}/metadata.json",
        f"/api/market/nfts/{nft_id}/media",
    ):
        hidden = await client.get(path, headers=world.outsider.auth)
        assert hidden.status_code == 404, path
        assert (await client.get(path)).status_code == 404
    # an unpublished collection is not there either, for outsiders
    assert (
        await client.get(
            f"/api/market/collections/{world.collection_id}", headers=world.outsider.auth
        )
    ).status_code in (200, 404)
    # owners set the studio's preferences; nobody else does
    patched = await client.patch(
        f"/api/market/studios/{world.studio_id}",
        headers=world.creator.auth,
        json={"description": "Lighthouses at every hour", "settings": {"default_royalty_bps": 500}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"] == {"default_royalty_bps": 500}
    stranger = await client.patch(
        f"/api/market/studios/{world.studio_id}", headers=world.outsider.auth, json={"name": "Mine"}
    )
    assert stranger.status_code == 403
    # a viewer sees drafts but cannot make one
    set_member = await client.put(
        f"/api/market/studios/{world.studio_id}/members",
        headers=world.creator.auth,
        json={"user_id": str(world.outsider.user_id), "role": "viewer"},
    )
    assert set_member.status_code == 204
    assert (
        await client.get(f"/api/market/nfts/{nft_id}", headers=world.outsider.auth)
    ).status_code == 200
    refused = await client.post(
        "/api/market/nfts",
        headers=world.outsider.auth,
        json={
            "collection_id": world.collection_id,
            "artifact_id": str(world.artifacts[5]),
            "name": "Mine",
        },
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/studio-role-required"
    # someone else's artifact is not an asset of this studio
    other = await client.post(
        "/api/market/studios", headers=world.buyer.auth, json={"name": "Elsewhere"}
    )
    foreign = await client.post(
        "/api/market/collections",
        headers=world.buyer.auth,
        json={
            "studio_id": other.json()["id"],
            "name": "Not mine",
            "symbol": "NM",
            "seller_fee_basis_points": 0,
        },
    )
    assert foreign.status_code == 201, foreign.text
    stolen = await client.post(
        "/api/market/nfts",
        headers=world.buyer.auth,
        json={
            "collection_id": foreign.json()["id"],
            "artifact_id": str(world.artifacts[0]),
            "name": "Stolen",
        },
    )
    assert stolen.status_code == 404
    assert stolen.json()["type"] == "/problems/artifact-not-found"
    # the last owner cannot leave; removing the viewer works
    leave = await client.put(
        f"/api/market/studios/{world.studio_id}/members",
        headers=world.creator.auth,
        json={"user_id": str(world.creator.user_id), "role": None},
    )
    assert leave.status_code == 409
    removed = await client.put(
        f"/api/market/studios/{world.studio_id}/members",
        headers=world.creator.auth,
        json={"user_id": str(world.outsider.user_id), "role": None},
    )
    assert removed.status_code == 204
    assets = await client.get(
        f"/api/market/studios/{world.studio_id}/assets", headers=world.creator.auth
    )
    assert {a["artifact_id"] for a in assets.json()} >= {str(a) for a in world.artifacts}
    assert (
        await client.get(
            f"/api/market/studios/{world.studio_id}/assets", headers=world.outsider.auth
        )
    ).status_code == 403


async def test_mint_list_buy_resell_every_lamport_accounted(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    nft = await _minted(client, world, 0, "Lighthouse #1")
    mint = Pubkey.from_string(nft["mint"])
    solana = _solana(runtime)
    state = programs.parse_mint(bytes((await solana.account(mint)).data))
    assert state is not None
    assert (state.supply, state.decimals, state.mint_authority) == (1, 0, None)
    account = await solana.account(metaplex.metadata_address(mint))
    onchain = metaplex.decode_metadata_account(bytes(account.data))
    assert onchain.uri == f"{runtime.settings.origin}/api/market/nfts/{nft['id']}/metadata.json"
    assert [(str(c.address), c.share) for c in onchain.creators] == [
        (world.creator.address, 70),
        (world.cocreator.address, 30),
    ]
    assert onchain.seller_fee_basis_points == 500
    traits = {a["trait_type"]: a["value"] for a in nft["attributes"]}
    assert traits["C2PA"] == "signed"
    assert traits["CID"].startswith("b")
    assert "Originality" in traits
    document = (await client.get(f"/api/market/nfts/{nft['id']}/metadata.json")).json()
    assert document["properties"]["files"][0]["type"] == "image/png"
    assert document["image"].endswith("/media")
    media = await client.get(f"/api/market/nfts/{nft['id']}/media")
    assert media.status_code == 200
    assert media.content[:8] == b"\x89PNG\r\n\x1a\n"

    listed = await client.post(
        "/api/market/listings",
        headers=world.creator.auth,
        json={"nft_id": nft["id"], "price": 2 * SOL + 7},
    )
    assert listed.status_code == 201, listed.text
    market = await _market(client)
    assert await _holder_amount(runtime, market["authority"], nft["mint"]) == 1
    reserve = market["reserve"]["address"]
    watched = [reserve, world.creator.address, world.cocreator.address, world.buyer.address]
    before = await _balances(runtime, watched)
    bought = await client.post(
        f"/api/market/listings/{listed.json()['id']}/buy", headers=world.buyer.auth
    )
    assert bought.status_code == 200, bought.text
    sale = bought.json()
    after = await _balances(runtime, watched)
    price = 2 * SOL + 7
    fee = price * 250 // 10_000
    # a primary sale: the creators share everything after the fee, 70/30, remainder by largest share
    pool = price - fee
    creator_part, cocreator_part = pool * 70 // 100, pool * 30 // 100
    leftover = pool - creator_part - cocreator_part
    assert (sale["price"], sale["fee"], sale["royalties"], sale["seller_proceeds"]) == (
        price,
        fee,
        pool,
        0,
    )
    assert after[reserve] - before[reserve] == fee
    got = {
        world.creator.address: after[world.creator.address] - before[world.creator.address],
        world.cocreator.address: after[world.cocreator.address] - before[world.cocreator.address],
    }
    assert sum(got.values()) == pool
    assert sorted(got.values()) == sorted(
        [
            creator_part + (leftover if (pool * 70) % 100 >= (pool * 30) % 100 else 0),
            cocreator_part + (0 if (pool * 70) % 100 >= (pool * 30) % 100 else leftover),
        ]
    )
    assert before[world.buyer.address] - after[world.buyer.address] >= price  # plus fees and rent
    assert await _holder_amount(runtime, world.buyer.address, nft["mint"]) == 1
    assert await _holder_amount(runtime, market["authority"], nft["mint"]) == 0
    async with runtime.sessions() as session:
        movement = await session.scalar(
            select(MoneyTransaction).where(MoneyTransaction.source == f"solana:{sale['signature']}")
        )
        assert movement is not None

    # the buyer resells: now royalties (5 %) go to the creators, the rest to the seller
    relisted = await client.post(
        "/api/market/listings",
        headers=world.buyer.auth,
        json={"nft_id": nft["id"], "price": 3 * SOL},
    )
    assert relisted.status_code == 201, relisted.text
    watched = [reserve, world.creator.address, world.cocreator.address, world.buyer.address]
    before = await _balances(runtime, watched)
    resold = await client.post(
        f"/api/market/listings/{relisted.json()['id']}/buy", headers=world.rival.auth
    )
    assert resold.status_code == 200, resold.text
    after = await _balances(runtime, watched)
    price = 3 * SOL
    fee, royalties = price * 250 // 10_000, price * 500 // 10_000
    assert after[reserve] - before[reserve] == fee
    assert after[world.creator.address] - before[world.creator.address] == royalties * 70 // 100
    assert after[world.cocreator.address] - before[world.cocreator.address] == royalties * 30 // 100
    proceeds = price - fee - royalties
    assert resold.json()["seller_proceeds"] == proceeds
    # the seller also paid nothing here: the buyer pays the fee
    assert after[world.buyer.address] - before[world.buyer.address] == proceeds
    history = (await client.get(f"/api/market/collections/{world.collection_id}")).json()
    assert [p["price"] for p in history["price_history"]][-2:] == [2 * SOL + 7, 3 * SOL]
    assert history["collection"]["stats"]["volume"] >= 5 * SOL + 7


async def test_two_buyers_at_once_make_one_sale(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    nft = await _minted(client, world, 1, "Lighthouse #2")
    listed = await client.post(
        "/api/market/listings", headers=world.creator.auth, json={"nft_id": nft["id"], "price": SOL}
    )
    listing_id = listed.json()["id"]
    answers = await asyncio.gather(
        client.post(f"/api/market/listings/{listing_id}/buy", headers=world.buyer.auth),
        client.post(f"/api/market/listings/{listing_id}/buy", headers=world.rival.auth),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["type"] == "/problems/listing-not-active"
    winner = next(a for a in answers if a.status_code == 200).json()["buyer_address"]
    assert await _holder_amount(runtime, winner, nft["mint"]) == 1
    other = world.rival.address if winner == world.buyer.address else world.buyer.address
    assert await _holder_amount(runtime, other, nft["mint"]) == 0
    # the seller cannot take it back out of the market: it is not in their wallet any more
    async with runtime.sessions() as session:
        seller = await wallets.solana_wallet(session, runtime.settings, world.creator.user_id)
    assert seller is not None
    assert seller.secret is not None
    keypair = Keypair.from_seed(seller.secret)
    solana = _solana(runtime)
    recent = await solana.latest_blockhash()
    grab = programs.transfer_checked(
        programs.associated_token_address(keypair.pubkey(), Pubkey.from_string(nft["mint"])),
        Pubkey.from_string(nft["mint"]),
        programs.associated_token_address(keypair.pubkey(), Pubkey.from_string(nft["mint"])),
        keypair.pubkey(),
        1,
        0,
    )
    with pytest.raises(TransactionRejected):
        await solana.send(
            Transaction(
                [keypair],
                Message.new_with_blockhash([grab], keypair.pubkey(), recent.blockhash),
                recent.blockhash,
            )
        )


async def test_an_english_auction_extends_and_settles_once(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    nft = await _minted(client, world, 2, "Lighthouse #3")
    listed = await client.post(
        "/api/market/listings",
        headers=world.creator.auth,
        json={
            "nft_id": nft["id"],
            "kind": "english",
            "reserve": SOL,
            "duration_s": 3600,
            "min_increment_bps": 1000,
        },
    )
    assert listed.status_code == 201, listed.text
    auction = listed.json()
    assert auction["ends_at"] is None  # the timer starts at the first bid at the reserve
    listing_id = auction["id"]
    low = await client.post(
        f"/api/market/listings/{listing_id}/bids",
        headers=world.buyer.auth,
        json={"amount": SOL - 1},
    )
    assert low.status_code == 422
    assert low.json()["type"] == "/problems/bid-too-low"
    first = await client.post(
        f"/api/market/listings/{listing_id}/bids", headers=world.buyer.auth, json={"amount": SOL}
    )
    assert first.status_code == 201, first.text
    detail = (await client.get(f"/api/market/listings/{listing_id}")).json()
    assert detail["listing"]["ends_at"] is not None
    assert detail["listing"]["least_next_bid"] == SOL + SOL // 10
    under = await client.post(
        f"/api/market/listings/{listing_id}/bids",
        headers=world.rival.auth,
        json={"amount": SOL + SOL // 10 - 1},
    )
    assert under.status_code == 422
    buyer_before = (await _balances(runtime, [world.buyer.address]))[world.buyer.address]
    # the last seconds: a bid then pushes the end out by the extension
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Listing)
            .where(Listing.id == uuid.UUID(listing_id))
            .values(ends_at=now_utc() + timedelta(seconds=1))
        )
    second = await client.post(
        f"/api/market/listings/{listing_id}/bids",
        headers=world.rival.auth,
        json={"amount": 2 * SOL},
    )
    assert second.status_code == 201, second.text
    detail = (await client.get(f"/api/market/listings/{listing_id}")).json()
    from datetime import datetime

    ends = datetime.fromisoformat(detail["listing"]["ends_at"])
    assert ends - now_utc() > timedelta(seconds=runtime.settings.market_auction_extension_s - 30)
    assert [b["status"] for b in detail["bids"]] == ["leading", "refunded"]
    buyer_after = (await _balances(runtime, [world.buyer.address]))[world.buyer.address]
    assert buyer_after - buyer_before == SOL  # outbid: refunded in full, at the market's cost
    early = await client.post(f"/api/market/listings/{listing_id}/settle", headers=world.buyer.auth)
    assert early.status_code == 409
    cancel = await client.post(
        f"/api/market/listings/{listing_id}/cancel", headers=world.creator.auth
    )
    assert cancel.json()["type"] == "/problems/auction-has-bids"
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Listing)
            .where(Listing.id == uuid.UUID(listing_id))
            .values(ends_at=now_utc() - timedelta(seconds=1))
        )
    market = await _market(client)
    reserve_before = (await _balances(runtime, [market["reserve"]["address"]]))[
        market["reserve"]["address"]
    ]
    report = await scheduled.tick(runtime)
    assert report.settled >= 1
    again = await client.post(f"/api/market/listings/{listing_id}/settle", headers=world.buyer.auth)
    assert again.status_code == 200
    sale = again.json()["sale"]
    assert sale["buyer_address"] == world.rival.address
    assert sale["price"] == 2 * SOL
    reserve_after = (await _balances(runtime, [market["reserve"]["address"]]))[
        market["reserve"]["address"]
    ]
    assert reserve_after - reserve_before == 2 * SOL * 250 // 10_000
    assert await _holder_amount(runtime, world.rival.address, nft["mint"]) == 1
    escrow_accounts = [
        programs.escrow_address(Pubkey.from_string(market["authority"]), uuid.UUID(b["id"]).hex)
        for b in detail["bids"]
    ]
    for account in escrow_accounts:
        assert await _solana(runtime).balance(account) == 0
    async with runtime.sessions() as session:
        sales = (
            await session.execute(select(Listing.status).where(Listing.id == uuid.UUID(listing_id)))
        ).scalar()
        assert sales == "sold"


async def test_a_dutch_auction_sells_at_its_falling_price(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    nft = await _minted(client, world, 3, "Lighthouse #4")
    listed = await client.post(
        "/api/market/listings",
        headers=world.creator.auth,
        json={
            "nft_id": nft["id"],
            "kind": "dutch",
            "start_price": 4 * SOL,
            "end_price": SOL,
            "duration_s": 600,
        },
    )
    assert listed.status_code == 201, listed.text
    listing_id = listed.json()["id"]
    async with runtime.sessions() as session, session.begin():  # halfway through its window
        await session.execute(
            update(Listing)
            .where(Listing.id == uuid.UUID(listing_id))
            .values(
                starts_at=now_utc() - timedelta(seconds=300),
                ends_at=now_utc() + timedelta(seconds=300),
            )
        )
    current = (await client.get(f"/api/market/listings/{listing_id}")).json()["listing"][
        "current_price"
    ]
    assert 2 * SOL < current <= int(2.6 * SOL)
    cheap = await client.post(
        f"/api/market/listings/{listing_id}/buy", headers=world.buyer.auth, json={"max_price": SOL}
    )
    assert cheap.status_code == 409
    assert cheap.json()["type"] == "/problems/price-changed"
    bought = await client.post(
        f"/api/market/listings/{listing_id}/buy",
        headers=world.buyer.auth,
        json={"max_price": 3 * SOL},
    )
    assert bought.status_code == 200, bought.text
    assert SOL < bought.json()["price"] <= current


async def test_offers_escrow_accept_and_expire(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    nft = await _minted(client, world, 4, "Lighthouse #5")
    offer = await client.post(
        "/api/market/offers", headers=world.buyer.auth, json={"nft_id": nft["id"], "amount": SOL}
    )
    assert offer.status_code == 201, offer.text
    late = await client.post(
        "/api/market/offers",
        headers=world.rival.auth,
        json={"nft_id": nft["id"], "amount": SOL // 2},
    )
    assert late.status_code == 201
    market = await _market(client)
    escrow = programs.escrow_address(
        Pubkey.from_string(market["authority"]), uuid.UUID(offer.json()["id"]).hex
    )
    assert await _solana(runtime).balance(escrow) == SOL
    accepted = await client.post(
        f"/api/market/offers/{offer.json()['id']}/accept", headers=world.creator.auth
    )
    assert accepted.status_code == 200, accepted.text
    assert await _solana(runtime).balance(escrow) == 0
    assert await _holder_amount(runtime, world.buyer.address, nft["mint"]) == 1
    twice = await client.post(
        f"/api/market/offers/{offer.json()['id']}/accept", headers=world.creator.auth
    )
    assert twice.status_code == 409
    # the other offer expires: the sweep refunds it in full
    rival_before = (await _balances(runtime, [world.rival.address]))[world.rival.address]
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Offer)
            .where(Offer.id == uuid.UUID(late.json()["id"]))
            .values(expires_at=now_utc() - timedelta(seconds=1))
        )
    await scheduled.tick(runtime)
    rival_after = (await _balances(runtime, [world.rival.address]))[world.rival.address]
    assert rival_after - rival_before == SOL // 2
    async with runtime.sessions() as session:
        assert (await session.get(Offer, uuid.UUID(late.json()["id"]))).status == "expired"  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def spare(client: httpx.AsyncClient, world: World) -> dict:  # type: ignore[type-arg]
    """A minted NFT its creator keeps."""
    return await _minted(client, world, 5, "Spare")


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        ({"price": 2**64}, "invalid-input"),
        ({"price": 10}, "invalid-price"),
        ({"kind": "english", "reserve": 10**9}, "invalid-terms"),
        (
            {"kind": "dutch", "start_price": 10**9, "end_price": 2 * 10**9, "duration_s": 600},
            "invalid-terms",
        ),
    ],
)
async def test_bad_listing_terms(
    client: httpx.AsyncClient,
    world: World,
    spare: dict,
    body: dict,
    slug: str,  # type: ignore[type-arg]
) -> None:
    nft_id = spare["id"]
    answer = await client.post(
        "/api/market/listings", headers=world.creator.auth, json={"nft_id": nft_id, **body}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"].endswith(slug)


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"creators": [{"share": 60}, {"share": 30}]}, 422),
        ({"creators": [{"share": 20}] * 3 + [{"share": 10}] * 4}, 422),
        ({"seller_fee_basis_points": 10_001}, 422),
        ({"name": "é" * 17}, 422),
        ({"symbol": "TOOLONGSYMB"}, 422),
        ({"name": "bad\x00name"}, 422),
    ],
)
async def test_bad_collections_are_refused(
    client: httpx.AsyncClient,
    world: World,
    changes: dict,
    status: int,  # type: ignore[type-arg]
) -> None:
    body = {
        "studio_id": world.studio_id,
        "name": "Ok",
        "symbol": "OK",
        "seller_fee_basis_points": 100,
    }
    if "creators" in changes:
        changes = {
            "creators": [
                {"address": str(Keypair().pubkey()), "share": c["share"]}
                for c in changes["creators"]
            ]
        }
    answer = await client.post(
        "/api/market/collections", headers=world.creator.auth, json={**body, **changes}
    )
    assert answer.status_code == status, answer.text


async def test_a_sponsorship_shares_in_sales_in_its_period(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    collection = await client.post(
        "/api/market/collections",
        headers=world.creator.auth,
        json={
            "studio_id": world.studio_id,
            "name": "Sponsored",
            "symbol": "SPN",
            "seller_fee_basis_points": 0,
        },
    )
    assert collection.status_code == 201
    sponsor = str(Keypair().pubkey())
    await _solana(runtime).airdrop(Pubkey.from_string(sponsor), SOL)  # an account that exists
    now = now_utc()
    body = {
        "studio_id": world.studio_id,
        "collection_id": collection.json()["id"],
        "sponsor_name": "Harbour Paints",
        "sponsor_address": sponsor,
        "amount": 50 * SOL,
        "revenue_share_bps": 1000,
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
    }
    refused = await client.post("/api/market/sponsorships", headers=world.buyer.auth, json=body)
    assert refused.status_code == 403  # only the studio's owners sign agreements
    backwards = await client.post(
        "/api/market/sponsorships",
        headers=world.creator.auth,
        json={**body, "ends_at": (now - timedelta(days=2)).isoformat()},
    )
    assert backwards.status_code == 422
    signed = await client.post("/api/market/sponsorships", headers=world.creator.auth, json=body)
    assert signed.status_code == 201, signed.text
    draft = await client.post(
        "/api/market/nfts",
        headers=world.creator.auth,
        json={
            "collection_id": collection.json()["id"],
            "artifact_id": str(world.artifacts[5]),
            "name": "Sponsored #1",
        },
    )
    nft = (
        await client.post(f"/api/market/nfts/{draft.json()['id']}/mint", headers=world.creator.auth)
    ).json()
    listed = await client.post(
        "/api/market/listings",
        headers=world.creator.auth,
        json={"nft_id": nft["id"], "price": 3 * SOL},
    )
    before = (await _balances(runtime, [sponsor]))[sponsor]
    sale = (
        await client.post(
            f"/api/market/listings/{listed.json()['id']}/buy", headers=world.rival.auth
        )
    ).json()
    after = (await _balances(runtime, [sponsor]))[sponsor]
    assert after - before == 3 * SOL * 1000 // 10_000
    roles = {p["role"]: p["lamports"] for p in sale["payouts"]}
    assert roles["sponsor"] == 3 * SOL // 10
    assert sum(p["lamports"] for p in sale["payouts"]) == 3 * SOL
    report = (
        await client.get(
            f"/api/market/studios/{world.studio_id}/sponsorships", headers=world.creator.auth
        )
    ).json()
    mine = next(r for r in report if r["id"] == signed.json()["id"])
    assert mine["report"] == {"sales": 1, "volume": 3 * SOL, "received": 3 * SOL // 10}
    # outside the period, nothing is shared
    async with runtime.sessions() as session, session.begin():
        from atelier.market.models import Sponsorship

        await session.execute(
            update(Sponsorship)
            .where(Sponsorship.id == uuid.UUID(signed.json()["id"]))
            .values(
                ends_at=now_utc() - timedelta(seconds=1), starts_at=now_utc() - timedelta(days=2)
            )
        )
    relisted = await client.post(
        "/api/market/listings", headers=world.rival.auth, json={"nft_id": nft["id"], "price": SOL}
    )
    resale = (
        await client.post(
            f"/api/market/listings/{relisted.json()['id']}/buy", headers=world.buyer.auth
        )
    ).json()
    assert "sponsor" not in {p["role"] for p in resale["payouts"]}


async def test_what_the_moderators_hide_leaves_the_market(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,
    spare: dict,  # type: ignore[type-arg]
) -> None:
    """A hidden NFT leaves the listings, its collection's public page and its own routes
    (its studio still sees it, and why); a hidden artifact cannot be drafted and leaves the
    studio's assets. Restored, everything is back as it was."""
    _, admin = await account_with_key(runtime, ["admin"])
    listed = await client.post(
        "/api/market/listings",
        headers=world.creator.auth,
        json={"nft_id": spare["id"], "price": SOL},
    )
    assert listed.status_code == 201, listed.text
    listing_id = listed.json()["id"]

    async def public_view() -> tuple[set[str], set[str], int, int]:
        listings = (await client.get("/api/market/listings", params={"limit": 100})).json()
        collection = (await client.get(f"/api/market/collections/{world.collection_id}")).json()
        nft = await client.get(f"/api/market/nfts/{spare['id']}", headers=world.outsider.auth)
        listing = await client.get(f"/api/market/listings/{listing_id}")
        return (
            {item["id"] for item in listings},
            {n["id"] for n in collection["nfts"]},
            nft.status_code,
            listing.status_code,
        )

    before = await public_view()
    assert listing_id in before[0] and spare["id"] in before[1] and before[2:] == (200, 200)
    case = await client.post(
        "/api/admin/moderation",
        headers=bearer(admin),
        json={"kind": "nft", "target_id": spare["id"], "reason": "a trademark"},
    )
    assert case.status_code == 201, case.text
    hidden = await public_view()
    assert listing_id not in hidden[0] and spare["id"] not in hidden[1]
    assert hidden[2:] == (404, 404)
    refused = await client.get(f"/api/market/nfts/{spare['id']}/media")
    assert refused.status_code == 404 and refused.json()["type"].endswith("nft-hidden")
    stream = await client.get(f"/market/listings/{listing_id}/events")  # its live state too
    assert stream.status_code == 404 and stream.json()["type"].endswith("nft-hidden")
    page = await client.get(f"/market/listings/{listing_id}")  # and its page says so
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    nowhere = await client.get(f"/market/listings/{uuid.uuid4()}/events")  # no such listing
    assert nowhere.status_code == 404 and nowhere.json()["type"].endswith("listing-not-found")
    studio_view = await client.get(f"/api/market/nfts/{spare['id']}", headers=world.creator.auth)
    assert studio_view.status_code == 200
    mine = (await client.get("/api/moderation/mine", headers=world.creator.auth)).json()
    assert [c["reason"] for c in mine if c["id"] == case.json()["id"]] == ["a trademark"]

    # a hidden artifact: no new drafts of it, gone from the studio's assets
    artifact = str(world.artifacts[4])
    artifact_case = await client.post(
        "/api/admin/moderation",
        headers=bearer(admin),
        json={"kind": "artifact", "target_id": artifact, "reason": "not theirs"},
    )
    assert artifact_case.status_code == 201
    drafted = await client.post(
        "/api/market/nfts",
        headers=world.creator.auth,
        json={"collection_id": world.collection_id, "artifact_id": artifact, "name": "Again"},
    )
    assert drafted.status_code == 404 and drafted.json()["type"].endswith("artifact-hidden")
    assets = await client.get(
        f"/api/market/studios/{world.studio_id}/assets", headers=world.creator.auth
    )
    assert artifact not in {a["artifact_id"] for a in assets.json()}

    for restored in (case.json()["id"], artifact_case.json()["id"]):
        decided = await client.post(
            f"/api/admin/moderation/{restored}/decide",
            headers=bearer(admin),
            json={"restore": True, "note": "fine after all"},
        )
        assert decided.status_code == 200
    assert await public_view() == before


async def test_a_rule_lists_and_reprices_an_nft(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    """Automation's market actions, fed by a webhook: `list_nft` deposits into escrow in its
    step and records the listing under the step's id; run again after a deposit that landed
    unrecorded, it records without a second deposit; `reprice_nft` changes the price."""

    async def deliver(rule: dict, delivery: str, payload: dict) -> None:  # type: ignore[type-arg]
        body = json.dumps(payload).encode()
        secret = rule["webhook_secret"].encode()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers = {"X-Atelier-Signature": signature, "X-Atelier-Delivery": delivery}
        fired = await client.post(rule["webhook_url"], content=body, headers=headers)
        assert fired.json() == {"fired": True}, fired.text
        await drain_tasks(runtime)

    async def rule_of(actions: list) -> dict:  # type: ignore[type-arg]
        made = await client.post(
            "/api/automation/rules",
            headers=world.creator.auth,
            json={"name": "sell", "trigger": {"kind": "webhook"}, "actions": actions},
        )
        assert made.status_code == 201, made.text
        return made.json()  # type: ignore[no-any-return]

    bad = await client.post(
        "/api/automation/rules",
        headers=world.creator.auth,
        json={
            "name": "x",
            "trigger": {"kind": "webhook"},
            "actions": [{"kind": "list_nft", "nft": "my best one", "price": "1 SOL"}],
        },
    )
    assert bad.status_code == 422 and "UUID" in bad.json()["detail"]
    nft = await _minted(client, world, 3, "Automated")
    lister = await rule_of([{"kind": "list_nft", "nft": "{nft}", "price": "{price}"}])
    await deliver(lister, "sell-1", {"nft": nft["id"], "price": 2 * SOL})
    runs = (
        await client.get(f"/api/automation/rules/{lister['id']}/runs", headers=world.creator.auth)
    ).json()
    assert [r["outcome"] for r in runs] == ["done"], runs
    listing_id = runs[0]["results"][0]["listing_id"]
    assert listing_id == str(uuid.uuid5(uuid.UUID(runs[0]["id"]), "action_1"))
    listed = (await client.get(f"/api/market/listings/{listing_id}")).json()["listing"]
    assert listed["price"] == 2 * SOL and listed["status"] == "active"
    market_address = (await _market(client))["authority"]
    assert await _holder_amount(runtime, market_address, nft["mint"]) == 1  # in escrow

    repricer = await rule_of([{"kind": "reprice_nft", "nft": "{nft}", "price": 3 * SOL}])
    await deliver(repricer, "cheaper-1", {"nft": nft["id"]})
    assert (await client.get(f"/api/market/listings/{listing_id}")).json()["listing"][
        "price"
    ] == 3 * SOL
    auction = await client.patch(
        f"/api/market/listings/{listing_id}", headers=world.buyer.auth, json={"price": SOL}
    )
    assert auction.status_code == 403  # only the seller
    too_low = await client.patch(
        f"/api/market/listings/{listing_id}", headers=world.creator.auth, json={"price": 10}
    )
    assert too_low.status_code == 422 and too_low.json()["type"].endswith("invalid-price")
    cancelled = await client.post(
        f"/api/market/listings/{listing_id}/cancel", headers=world.creator.auth
    )
    assert cancelled.status_code == 200
    closed = await client.patch(
        f"/api/market/listings/{listing_id}", headers=world.creator.auth, json={"price": SOL}
    )
    assert closed.status_code == 409 and closed.json()["type"].endswith("listing-not-active")

    # a deposit that landed while its step's transaction did not commit: the retried step
    # finds the NFT in escrow and records the listing, depositing nothing more
    market = await trading.market_of(runtime)
    async with runtime.sessions() as session:
        seller = await trading.signer_of(session, runtime.settings, world.creator.user_id)
    await trading.send(
        market,
        escrow.deposit_nft(
            seller.pubkey(), market.address, Pubkey.from_string(nft["mint"]), "atelier:list:lost"
        ),
        seller,
    )
    assert await _holder_amount(runtime, world.creator.address, nft["mint"]) == 0
    await deliver(lister, "sell-2", {"nft": nft["id"], "price": SOL})
    runs = (
        await client.get(f"/api/automation/rules/{lister['id']}/runs", headers=world.creator.auth)
    ).json()
    assert [r["outcome"] for r in runs] == ["done", "done"], runs
    recovered = {r["results"][0]["listing_id"] for r in runs} - {listing_id}
    detail = (await client.get(f"/api/market/listings/{recovered.pop()}")).json()["listing"]
    assert detail["status"] == "active" and detail["price"] == SOL
    assert await _holder_amount(runtime, market_address, nft["mint"]) == 1
