"""Solana Actions (Blinks) from wallets Atelier does not hold: plain solders keypairs sign
the transactions the Actions return and send them over the embedded runtime's JSON-RPC, as
a wallet would; the spec's headers, the next-link callback, and the attacks."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlalchemy import select, update

from atelier.chain.solana import metaplex, programs
from atelier.chain.solana.client import RpcSolana, TransactionRejected
from atelier.core.clock import now_utc
from atelier.core.runtime import Runtime
from atelier.market import scheduled
from atelier.market.models import Intent, Sale
from tests.grid.helpers import account_with_key, asgi_client, worker_loop
from tests.helpers import bearer, drain_tasks

SOL = programs.LAMPORTS_PER_SOL


@dataclass
class Shop:
    creator: dict[str, str]
    creator_id: uuid.UUID
    creator_address: str
    rival: dict[str, str]
    collection_id: str
    artifacts: list[str]


@pytest.fixture(scope="module")
async def shop(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    creator_id, creator_key = await account_with_key(runtime)
    _, rival_key = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    creator, rival = bearer(creator_key), bearer(rival_key)
    address = (await client.post("/api/market/wallet", headers=creator)).json()["address"]
    await client.post("/api/market/wallet", headers=rival)
    grid = asgi_client(client, creator_key)
    jobs = [await grid.generate({"kind": "image", "prompt": f"harbour {n}"}) for n in range(6)]
    async with worker_loop(
        client, volunteer, "actions-w", tmp_path_factory.mktemp("w"), max_jobs=6
    ) as loop:
        await asyncio.wait_for(loop.run(), 120)
    await drain_tasks(runtime)
    artifacts = [(await grid.status(j.id)).result["artifact_id"] for j in jobs]  # type: ignore[index]
    await grid.close()
    studio = (
        await client.post("/api/market/studios", headers=creator, json={"name": "Harbour"})
    ).json()
    collection = await client.post(
        "/api/market/collections",
        headers=creator,
        json={
            "studio_id": studio["id"],
            "name": "Harbours",
            "symbol": "HRB",
            "seller_fee_basis_points": 1000,
        },
    )
    return Shop(creator, creator_id, address, rival, collection.json()["id"], artifacts)


async def _wallet(runtime: Runtime, lamports: int = 10 * SOL) -> Keypair:
    """A wallet of someone's own: a bare keypair, funded on the embedded runtime."""
    keypair = Keypair()
    await runtime.adapters["solana"].airdrop(keypair.pubkey(), lamports)
    return keypair


async def _nft(client: httpx.AsyncClient, shop: Shop, index: int, *, mint: bool = True) -> dict:  # type: ignore[type-arg]
    draft = await client.post(
        "/api/market/nfts",
        headers=shop.creator,
        json={
            "collection_id": shop.collection_id,
            "artifact_id": shop.artifacts[index],
            "name": f"Harbour {index}",
        },
    )
    assert draft.status_code == 201, draft.text
    if not mint:
        return draft.json()  # type: ignore[no-any-return]
    minted = await client.post(f"/api/market/nfts/{draft.json()['id']}/mint", headers=shop.creator)
    assert minted.status_code == 200, minted.text
    return minted.json()  # type: ignore[no-any-return]


def _rpc(client: httpx.AsyncClient) -> RpcSolana:
    rpc = RpcSolana(f"{client.base_url}/solana/rpc")
    rpc._http = client
    return rpc


async def _sign_and_send(client: httpx.AsyncClient, answer: dict, wallet: Keypair) -> str:  # type: ignore[type-arg]
    transaction = Transaction.from_bytes(base64.b64decode(answer["transaction"]))
    transaction.partial_sign([wallet], transaction.message.recent_blockhash)
    assert transaction.verify() is None
    return await _rpc(client).send(transaction)


def _spec_headers(response: httpx.Response) -> None:
    assert response.headers["access-control-allow-origin"] == "*"
    assert "X-Action-Version" in response.headers["access-control-expose-headers"]
    assert response.headers["x-action-version"] == "2.4"
    assert response.headers["x-blockchain-ids"] == "solana:atelier-embedded"


async def test_actions_json_and_preflight(client: httpx.AsyncClient) -> None:
    rules = await client.get("/actions.json")
    assert rules.status_code == 200
    _spec_headers(rules)
    assert {"pathPattern": "/market/listings/*", "apiPath": "/api/actions/buy/*"} in rules.json()[
        "rules"
    ]
    preflight = await client.options("/api/actions/buy/x")
    assert preflight.status_code == 204
    _spec_headers(preflight)


async def test_buy_through_a_blink_with_a_wallet_of_ones_own(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    nft = await _nft(client, shop, 0)
    listing = (
        await client.post(
            "/api/market/listings", headers=shop.creator, json={"nft_id": nft["id"], "price": SOL}
        )
    ).json()
    metadata = await client.get(f"/api/actions/buy/{listing['id']}")
    _spec_headers(metadata)
    action = metadata.json()
    assert action["type"] == "action"
    assert action["label"] == "Buy for 1 SOL"
    assert action["icon"].endswith(f"/api/market/nfts/{nft['id']}/media")
    assert action["links"]["actions"][0]["href"] == f"/api/actions/buy/{listing['id']}"

    wallet, stranger = await _wallet(runtime), await _wallet(runtime)
    posted = await client.post(
        f"/api/actions/buy/{listing['id']}", json={"account": str(wallet.pubkey())}
    )
    assert posted.status_code == 200, posted.text
    _spec_headers(posted)
    answer = posted.json()
    transaction = Transaction.from_bytes(base64.b64decode(answer["transaction"]))
    assert transaction.message.account_keys[0] == wallet.pubkey()  # the account pays
    # someone else cannot use it: they cannot sign for the account
    with pytest.raises(BaseException):  # noqa: B017,PT011 - solders: a keypair not in the message
        transaction.partial_sign([stranger], transaction.message.recent_blockhash)
    forged = Transaction.populate(
        transaction.message,
        [stranger.sign_message(bytes(transaction.message)), transaction.signatures[1]],
    )
    with pytest.raises(TransactionRejected):
        await _rpc(client).send(forged)
    # it simulates cleanly once the account signs, then lands
    signed = Transaction.from_bytes(base64.b64decode(answer["transaction"]))
    signed.partial_sign([wallet], signed.message.recent_blockhash)
    assert (await runtime.adapters["solana"].simulate(signed)).error is None
    reserve = Pubkey.from_string((await client.get("/api/market")).json()["reserve"]["address"])
    before = await _rpc(client).balance(reserve)
    await _rpc(client).send(signed)
    landed = await client.post(
        answer["links"]["next"]["href"], json={"account": str(wallet.pubkey()), "signature": "x"}
    )
    assert landed.status_code == 200, landed.text
    assert landed.json()["type"] == "completed"
    assert await _rpc(client).balance(reserve) - before == SOL * 250 // 10_000
    detail = (await client.get(f"/api/market/nfts/{nft['id']}")).json()
    assert detail["nft"]["owner_address"] == str(wallet.pubkey())
    assert detail["sales"][0]["price"] == SOL
    assert detail["sales"][0]["buyer_address"] == str(wallet.pubkey())
    again = await client.post(
        answer["links"]["next"]["href"], json={"account": str(wallet.pubkey())}
    )
    assert again.status_code == 200  # idempotent
    async with runtime.sessions() as session:
        sales = (
            await session.scalars(select(Sale).where(Sale.nft_id == uuid.UUID(nft["id"])))
        ).all()
    assert len(sales) == 1
    sold = await client.get(f"/api/actions/buy/{listing['id']}")
    assert sold.json()["disabled"] is True


async def test_two_wallets_sign_one_listing_one_sale(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    nft = await _nft(client, shop, 1)
    listing = (
        await client.post(
            "/api/market/listings", headers=shop.creator, json={"nft_id": nft["id"], "price": SOL}
        )
    ).json()
    first, second = await _wallet(runtime), await _wallet(runtime)
    answers = [
        (
            await client.post(
                f"/api/actions/buy/{listing['id']}", json={"account": str(w.pubkey())}
            )
        ).json()
        for w in (first, second)
    ]
    await _sign_and_send(client, answers[0], first)
    with pytest.raises(TransactionRejected):  # the escrow holds it no more
        await _sign_and_send(client, answers[1], second)
    report = await scheduled.tick(runtime)
    assert report.landed >= 1
    async with runtime.sessions() as session, session.begin():
        sales = (
            await session.scalars(select(Sale).where(Sale.nft_id == uuid.UUID(nft["id"])))
        ).all()
        assert [s.buyer_address for s in sales] == [str(first.pubkey())]
        await session.execute(
            update(Intent)
            .where(Intent.listing_id == uuid.UUID(listing["id"]))
            .values(expires_at=now_utc() - timedelta(seconds=1))
        )
    await scheduled.tick(runtime)
    async with runtime.sessions() as session:
        states = sorted(
            (
                await session.scalars(
                    select(Intent.status).where(Intent.listing_id == uuid.UUID(listing["id"]))
                )
            ).all()
        )
    assert states == ["expired", "landed"]


async def test_a_stale_transaction_is_refused_and_its_intent_expires(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    nft = await _nft(client, shop, 2)
    listing = (
        await client.post(
            "/api/market/listings", headers=shop.creator, json={"nft_id": nft["id"], "price": SOL}
        )
    ).json()
    wallet = await _wallet(runtime)
    answer = (
        await client.post(
            f"/api/actions/buy/{listing['id']}", json={"account": str(wallet.pubkey())}
        )
    ).json()
    runtime.adapters["solana"].expire_blockhash()
    with pytest.raises(TransactionRejected, match=r"(?i)blockhash"):
        await _sign_and_send(client, answer, wallet)
    not_yet = await client.post(
        answer["links"]["next"]["href"], json={"account": str(wallet.pubkey())}
    )
    assert not_yet.status_code == 409
    assert "message" in not_yet.json()
    # a fresh one works
    answer = (
        await client.post(
            f"/api/actions/buy/{listing['id']}", json={"account": str(wallet.pubkey())}
        )
    ).json()
    await _sign_and_send(client, answer, wallet)
    assert (await client.post(answer["links"]["next"]["href"], json={})).status_code == 200


async def test_bid_and_offer_through_blinks(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    nft = await _nft(client, shop, 3)
    auction = (
        await client.post(
            "/api/market/listings",
            headers=shop.creator,
            json={"nft_id": nft["id"], "kind": "english", "reserve": SOL, "duration_s": 600},
        )
    ).json()
    metadata = (await client.get(f"/api/actions/bid/{auction['id']}")).json()
    parameter = metadata["links"]["actions"][0]["parameters"][0]
    assert (parameter["name"], parameter["required"], parameter["min"]) == ("amount", True, 1.0)
    bidder = await _wallet(runtime)
    low = await client.post(
        f"/api/actions/bid/{auction['id']}?amount=0.5", json={"account": str(bidder.pubkey())}
    )
    assert low.status_code == 422
    assert "at least" in low.json()["message"]
    answer = (
        await client.post(
            f"/api/actions/bid/{auction['id']}?amount=1.25", json={"account": str(bidder.pubkey())}
        )
    ).json()
    await _sign_and_send(client, answer, bidder)
    assert (await client.post(answer["links"]["next"]["href"], json={})).status_code == 200
    bids = (await client.get(f"/api/market/listings/{auction['id']}")).json()["bids"]
    assert [(b["bidder_address"], b["amount"], b["status"]) for b in bids] == [
        (str(bidder.pubkey()), int(1.25 * SOL), "leading")
    ]
    # outbid by an account the platform holds: the wallet gets its 1.25 SOL back
    before = await _rpc(client).balance(bidder.pubkey())
    outbid = await client.post(
        f"/api/market/listings/{auction['id']}/bids", headers=shop.rival, json={"amount": 2 * SOL}
    )
    assert outbid.status_code == 201, outbid.text
    assert await _rpc(client).balance(bidder.pubkey()) - before == int(1.25 * SOL)

    collector = await _wallet(runtime)
    other = await _nft(client, shop, 4)
    offer = (
        await client.post(
            f"/api/actions/offer/{other['id']}?amount=0.75",
            json={"account": str(collector.pubkey())},
        )
    ).json()
    await _sign_and_send(client, offer, collector)
    await scheduled.tick(runtime)  # the indexer finds it without the callback
    offers = (await client.get(f"/api/market/nfts/{other['id']}")).json()["offers"]
    assert [(o["buyer_address"], o["amount"]) for o in offers] == [
        (str(collector.pubkey()), int(0.75 * SOL))
    ]
    accepted = await client.post(
        f"/api/market/offers/{offers[0]['id']}/accept", headers=shop.creator
    )
    assert accepted.status_code == 200, accepted.text
    holding = await runtime.adapters["solana"].account(
        programs.associated_token_address(collector.pubkey(), Pubkey.from_string(other["mint"]))
    )
    assert programs.parse_token_account(bytes(holding.data)).amount == 1


async def test_a_drop_mints_once_however_many_collectors_sign(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    draft = await _nft(client, shop, 5, mint=False)
    assert (
        await client.get(f"/api/actions/mint/{draft['id']}")
    ).status_code == 404  # a draft is private
    opened = await client.put(
        f"/api/market/nfts/{draft['id']}/drop", headers=shop.creator, json={"price": SOL // 2}
    )
    assert opened.status_code == 200, opened.text
    action = (await client.get(f"/api/actions/mint/{draft['id']}")).json()
    assert action["label"] == "Mint for 0.5 SOL"
    first, second = await _wallet(runtime), await _wallet(runtime)
    answers = [
        (
            await client.post(f"/api/actions/mint/{draft['id']}", json={"account": str(w.pubkey())})
        ).json()
        for w in (first, second)
    ]
    await _sign_and_send(client, answers[0], first)
    with pytest.raises(TransactionRejected):  # the one mint address exists now
        await _sign_and_send(client, answers[1], second)
    assert (await client.post(answers[0]["links"]["next"]["href"], json={})).status_code == 200
    minted = (await client.get(f"/api/market/nfts/{draft['id']}")).json()
    assert minted["nft"]["status"] == "minted"
    assert minted["nft"]["owner_address"] == str(first.pubkey())
    assert minted["sales"][0]["kind"] == "drop"
    assert (
        minted["sales"][0]["royalties"] == SOL // 2 - SOL // 2 * 250 // 10_000
    )  # primary: all to creators
    mint = Pubkey.from_string(minted["nft"]["mint"])
    state = programs.parse_mint(bytes((await runtime.adapters["solana"].account(mint)).data))
    assert (state.supply, state.mint_authority) == (1, None)  # type: ignore[union-attr]
    onchain = await runtime.adapters["solana"].account(metaplex.metadata_address(mint))
    assert metaplex.decode_metadata_account(bytes(onchain.data)).name == draft["name"]
    closed = (await client.get(f"/api/actions/mint/{draft['id']}")).json()
    assert closed["disabled"] is True


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/actions/buy/{listing}", {"account": "not-base58-0OIl"}, 422),
        ("/api/actions/buy/{listing}", {"account": "x" * 5000}, 422),
        ("/api/actions/buy/{listing}", {"wallet": "x"}, 422),
        ("/api/actions/buy/{listing}", ["account"], 422),
        ("/api/actions/bid/{listing}?amount=abc", {"account": "{wallet}"}, 422),
        ("/api/actions/bid/{listing}?amount=-1", {"account": "{wallet}"}, 422),
        ("/api/actions/bid/{listing}?amount=1e30", {"account": "{wallet}"}, 422),
        ("/api/actions/bid/{listing}?amount=0.0000000001", {"account": "{wallet}"}, 422),
        ("/api/actions/steal/{listing}", {"account": "{wallet}"}, 404),
        ("/api/actions/buy/" + str(uuid.UUID(int=0)), {"account": "{wallet}"}, 409),
    ],
)
async def test_hostile_action_requests(
    client: httpx.AsyncClient, shop: Shop, path: str, body: object, status: int
) -> None:
    wallet = str(Keypair().pubkey())
    listing = str(uuid.uuid4())
    if isinstance(body, dict):
        body = {k: (wallet if v == "{wallet}" else v) for k, v in body.items()}
    answer = await client.post(path.format(listing=listing), json=body)
    assert answer.status_code == status, answer.text
    assert isinstance(answer.json()["message"], str)
    _spec_headers(answer)


async def test_an_nft_sold_elsewhere_is_followed(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    """A transfer outside Atelier (another market, a gift): the indexer moves the owner."""
    from atelier.identity.service import wallets

    draft = await client.post(
        "/api/market/nfts",
        headers=shop.creator,
        json={
            "collection_id": shop.collection_id,
            "artifact_id": shop.artifacts[0],
            "name": "Gift",
        },
    )
    minted = (
        await client.post(f"/api/market/nfts/{draft.json()['id']}/mint", headers=shop.creator)
    ).json()
    async with runtime.sessions() as session:
        held = await wallets.solana_wallet(session, runtime.settings, shop.creator_id)
    assert held is not None
    assert held.secret is not None
    owner, friend = Keypair.from_seed(held.secret), Keypair()
    mint = Pubkey.from_string(minted["mint"])
    gift = [
        programs.create_associated_token_account_idempotent(owner.pubkey(), friend.pubkey(), mint),
        programs.transfer_checked(
            programs.associated_token_address(owner.pubkey(), mint),
            mint,
            programs.associated_token_address(friend.pubkey(), mint),
            owner.pubkey(),
            1,
            0,
        ),
    ]
    from atelier.chain.solana.client import send_fresh
    from atelier.market.trading import build

    await send_fresh(runtime.adapters["solana"], lambda h: build(gift, owner.pubkey(), [owner], h))
    report = await scheduled.tick(runtime)
    assert report.moved >= 1
    detail = (await client.get(f"/api/market/nfts/{minted['id']}")).json()
    assert detail["nft"]["owner_address"] == str(friend.pubkey())
    refused = await client.post(
        "/api/market/listings", headers=shop.creator, json={"nft_id": minted["id"], "price": SOL}
    )
    assert refused.status_code == 403


async def test_a_bid_overtaken_on_its_way_is_refunded(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    """A wallet's bid built before another took the lead still lands (it refunds nobody);
    it does not count, and its lamports go straight back."""
    nft = await _nft(client, shop, 1, mint=True)
    auction = (
        await client.post(
            "/api/market/listings",
            headers=shop.creator,
            json={"nft_id": nft["id"], "kind": "english", "reserve": SOL, "duration_s": 600},
        )
    ).json()
    late = await _wallet(runtime)
    answer = (
        await client.post(
            f"/api/actions/bid/{auction['id']}?amount=1.5", json={"account": str(late.pubkey())}
        )
    ).json()
    first = await client.post(
        f"/api/market/listings/{auction['id']}/bids", headers=shop.rival, json={"amount": 2 * SOL}
    )
    assert first.status_code == 201
    before = await _rpc(client).balance(late.pubkey())
    await _sign_and_send(client, answer, late)
    assert (await client.post(answer["links"]["next"]["href"], json={})).status_code == 200
    bids = (await client.get(f"/api/market/listings/{auction['id']}")).json()["bids"]
    states = {b["bidder_address"]: b["status"] for b in bids}
    assert states[str(late.pubkey())] == "refunded"
    assert list(states.values()).count("leading") == 1
    after = await _rpc(client).balance(late.pubkey())
    assert before - after == 5000  # only its own transaction's fee: the 1.5 SOL came back
