"""Solana Actions (Blinks): buy a listing, bid on an auction, make an offer, mint a drop,
from any wallet, per the Actions spec (solana-developers/solana-actions, v2.4).

- `GET /actions.json`: which site paths map to which Action endpoints.
- `GET /api/actions/{verb}/{id}`: the Action's metadata (`icon`, `title`, `description`,
  `label`, `links.actions` with their parameters), or `disabled` with an `error`.
- `POST /api/actions/{verb}/{id}` with `{"account": <base58>}`: `{"type": "transaction",
  "transaction": <base64>, "message", "links": {"next": …}}`. The transaction is built for
  that account only (it pays and signs; the market authority has already signed its part),
  so it is worthless to anyone else: another wallet cannot sign for the account, and
  changing any amount or recipient breaks the authority's signature.
- `POST /api/actions/landed/{intent}` (the spec's `next` link, called by the client once
  the transaction confirmed): looks at the chain and answers a `completed` action.

Every answer carries the spec's CORS headers, `X-Action-Version` and `X-Blockchain-Ids`;
errors are `{"message": …}` with a 4xx status, as the spec says.
"""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.solana import metaplex, programs
from atelier.chain.solana.client import cluster_id
from atelier.chain.solana.embedded import BLOCKHASH_LIFETIME_S
from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.errors import AppError, Conflict, NotFound
from atelier.core.http import runtime_of
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.grid import service as grid
from atelier.identity.service import wallets
from atelier.market import escrow, indexing, studios, trading
from atelier.market import repository as repo
from atelier.market.models import Intent, IntentKind, ListingKind, Nft
from atelier.market.schemas import LAMPORTS_PER_SOL, lamports_of_sol, sol

router = APIRouter(tags=["actions"])
# Errors here are the spec's `{"message": …}`, not problems (server/openapi.py documents it).
SPEC_ERRORS = {"x-solana-action-errors": True}
ACTION_VERSION = "2.4"
MAX_BODY_ACCOUNT = 64
# How long an intent waits for its transaction: a blockhash's life on a cluster (~150
# slots, about a minute) with room to spare.
INTENT_LIFETIME = timedelta(seconds=max(BLOCKHASH_LIFETIME_S * 2, 180))


def _headers(runtime: Runtime) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET,POST,PUT,OPTIONS",
        "Access-Control-Allow-Headers": (
            "Content-Type, Authorization, Content-Encoding, Accept-Encoding, "
            "X-Accept-Action-Version, X-Accept-Blockchain-Ids"
        ),
        "Access-Control-Expose-Headers": "X-Action-Version, X-Blockchain-Ids, Content-Type",
        "X-Action-Version": ACTION_VERSION,
        "X-Blockchain-Ids": cluster_id(runtime.settings),
    }


def _uuid(text: str) -> uuid.UUID | None:
    """A path's id; the Actions answer their own errors, so FastAPI does not parse it."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _answer(runtime: Runtime, body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_headers(runtime))


def _error(runtime: Runtime, message: str, status: int = 400) -> JSONResponse:
    return _answer(runtime, {"message": message}, status)


def _lamports(text: str | None) -> int:
    try:
        return lamports_of_sol(text)
    except ValueError as exc:
        raise ValueError(f"amount {exc}") from None


async def _account(request: Request) -> Pubkey:
    try:
        body = await request.json()
    except ValueError:
        raise ValueError('the body is JSON: {"account": <base58 address>}') from None
    account = body.get("account") if isinstance(body, dict) else None
    if not isinstance(account, str) or len(account) > MAX_BODY_ACCOUNT:
        raise ValueError("`account` is the signing wallet's base58 address")
    try:
        return Pubkey.from_string(account)
    except ValueError:
        raise ValueError("`account` is not a Solana address") from None


@router.get("/actions.json", openapi_extra=SPEC_ERRORS)
async def actions_json(request: Request) -> JSONResponse:
    """Which pages of this site are Actions (the spec's actions.json)."""
    runtime = runtime_of(request)
    return _answer(
        runtime,
        {
            "rules": [
                {"pathPattern": "/market/listings/*", "apiPath": "/api/actions/buy/*"},
                {"pathPattern": "/market/auctions/*", "apiPath": "/api/actions/bid/*"},
                {"pathPattern": "/market/offers/*", "apiPath": "/api/actions/offer/*"},
                {"pathPattern": "/market/drops/*", "apiPath": "/api/actions/mint/*"},
                {"pathPattern": "/api/actions/**", "apiPath": "/api/actions/**"},
            ]
        },
    )


@router.options("/actions.json", include_in_schema=False)
@router.options("/api/actions/{path:path}", include_in_schema=False)
async def preflight(request: Request) -> Response:
    return Response(status_code=204, headers=_headers(runtime_of(request)))


def _icon(origin: str, nft: Nft, mime: str | None) -> str:
    if mime and mime.startswith("image/"):
        return f"{origin}/api/market/nfts/{nft.id}/media"
    return f"{origin}/static/nft-placeholder.svg"


async def _nft_card(session: AsyncSession, runtime: Runtime, nft: Nft) -> dict[str, str]:
    try:
        mime: str | None = (await grid.artifact_download(session, nft.artifact_id)).mime
    except AppError:
        mime = None
    collection = await repo.collection(session, nft.collection_id)
    assert collection is not None
    return {
        "icon": _icon(runtime.settings.origin, nft, mime),
        "title": f"{nft.name} · {collection.name}",
        "description": nft.description or f"{collection.name} ({collection.symbol}) on Atelier",
    }


# -- GET: the Actions' metadata -----------------------------------------------------------


@router.get("/api/actions/{verb}/{subject_id}", openapi_extra=SPEC_ERRORS)
async def action_metadata(request: Request, verb: str, subject_id: str) -> JSONResponse:
    runtime = runtime_of(request)
    subject = _uuid(subject_id)
    if verb not in ("buy", "bid", "offer", "mint") or subject is None:
        return _error(runtime, f"no {verb[:20]!r} action for {subject_id[:40]!r} here", 404)
    try:
        async with unit_of_work(runtime) as session:
            body = await _metadata(session, runtime, verb, subject)
    except AppError as exc:
        return _error(runtime, exc.detail, exc.status)
    return _answer(runtime, body)


async def _metadata(
    session: AsyncSession, runtime: Runtime, verb: str, subject_id: uuid.UUID
) -> dict[str, Any]:
    href = f"/api/actions/{verb}/{subject_id}"
    if verb in ("buy", "bid"):
        return await _listing_metadata(session, runtime, verb, subject_id, href)
    nft, _ = await studios.nft_for(session, subject_id, None)
    card = await _nft_card(session, runtime, nft)
    if verb == "offer":
        offer = _one(
            "Offer",
            f"{href}?amount={{amount}}",
            [{"type": "number", "name": "amount", "label": "SOL", "required": True}],
        )
        return {"type": "action", **card, "label": "Make an offer", "links": offer}
    if nft.drop_price is None or nft.status != "draft":
        return _closed(card, "Minted", "this drop is not open")
    label = f"Mint for {sol(int(nft.drop_price))} SOL"
    return {"type": "action", **card, "label": label, "links": _one(label, href)}


def _one(label: str, href: str, parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "transaction", "label": label, "href": href}
    if parameters:
        action["parameters"] = parameters
    return {"actions": [action]}


def _closed(card: dict[str, str], label: str, why: str) -> dict[str, Any]:
    return {"type": "action", **card, "label": label, "disabled": True, "error": {"message": why}}


async def _listing_metadata(
    session: AsyncSession, runtime: Runtime, verb: str, listing_id: uuid.UUID, href: str
) -> dict[str, Any]:
    listing = await repo.listing(session, listing_id)
    if listing is None:
        raise NotFound("no such listing", slug="listing-not-found")
    nft, _ = await studios.nft_for(session, listing.nft_id, None)
    card = await _nft_card(session, runtime, nft)
    if listing.status != "active":
        return _closed(card, listing.status.capitalize(), f"this listing is {listing.status}")
    if verb == "buy":
        price = trading.current_price(listing, now_utc())
        if listing.kind == ListingKind.ENGLISH or price is None:
            raise Conflict(
                "an English auction is won by bidding: use the bid action",
                slug="auction-needs-bids",
            )
        label = f"Buy for {sol(price)} SOL"
        return {"type": "action", **card, "label": label, "links": _one(label, href)}
    least = trading.least_next_bid(listing, await repo.leading_bid(session, listing.id))
    amount = {
        "type": "number",
        "name": "amount",
        "label": f"SOL (at least {sol(least)})",
        "required": True,
        "min": float(Decimal(least) / LAMPORTS_PER_SOL),
    }
    return {
        "type": "action",
        **card,
        "label": "Bid",
        "description": f"{card['description']} · the next bid is at least {sol(least)} SOL",
        "links": _one("Place bid", f"{href}?amount={{amount}}", [amount]),
    }


# -- POST: a transaction for the account --------------------------------------------------


@router.post("/api/actions/landed/{intent_id}", openapi_extra=SPEC_ERRORS)
async def action_landed(request: Request, intent_id: str) -> JSONResponse:
    """The spec's `next` callback: the client confirmed its transaction; record it now."""
    runtime = runtime_of(request)
    intent_key = _uuid(intent_id)
    if intent_key is None:
        return _error(runtime, "no such action", 404)
    try:
        async with unit_of_work(runtime) as session:
            state = await indexing.settle_intent(session, runtime, intent_key)
            intent = await repo.intent(session, intent_key)
            card = await _nft_card(session, runtime, await _nft_of(session, intent))
    except AppError as exc:
        return _error(runtime, exc.detail, exc.status)
    if state != "landed":
        return _error(runtime, f"the transaction has not landed ({state})", 409)
    return _answer(
        runtime,
        {
            "type": "completed",
            **card,
            "label": "Done",
            "description": f"{card['description']} · recorded on chain",
        },
    )


@router.post("/api/actions/{verb}/{subject_id}", openapi_extra=SPEC_ERRORS)
async def action_transaction(
    request: Request, verb: str, subject_id: str, amount: str | None = None
) -> JSONResponse:
    runtime = runtime_of(request)
    subject = _uuid(subject_id)
    if verb not in ("buy", "bid", "offer", "mint") or subject is None:
        return _error(runtime, f"no {verb[:20]!r} action for {subject_id[:40]!r} here", 404)
    try:
        account = await _account(request)
        lamports = _lamports(amount) if verb in ("bid", "offer") else 0
    except ValueError as exc:
        return _error(runtime, str(exc), 422)
    try:
        async with unit_of_work(runtime) as session:
            market = await trading.market_of(runtime)
            recent = await market.client.latest_blockhash()
            intent, instructions, signers = await _BUILDERS[verb](
                session, runtime, market, account, subject, lamports
            )
            transaction = _partially_signed(instructions, account, signers, recent.blockhash)
            await rows.add(session, intent)
    except AppError as exc:
        return _error(runtime, exc.detail, 409 if exc.status >= 500 else exc.status)
    return _answer(
        runtime,
        {
            "type": "transaction",
            "transaction": base64.b64encode(bytes(transaction)).decode(),
            "message": _MESSAGES[verb](intent),
            "links": {"next": {"type": "post", "href": f"/api/actions/landed/{intent.id}"}},
        },
    )


def _partially_signed(
    instructions: list[Instruction], payer: Pubkey, ours: list[Keypair], blockhash: Hash
) -> Transaction:
    message = Message.new_with_blockhash(instructions, payer, blockhash)
    transaction = Transaction.new_unsigned(message)
    needed = message.account_keys[: message.header.num_required_signatures]
    transaction.partial_sign([k for k in ours if k.pubkey() in needed], blockhash)
    return transaction


Built = tuple[Intent, list[Instruction], list[Keypair]]


def _intent(
    kind: IntentKind, account: Pubkey, nft_id: uuid.UUID, amount: int, **more: Any
) -> Intent:
    return Intent(
        id=uuid.uuid4(),
        kind=kind,
        nft_id=nft_id,
        account=str(account),
        amount=amount,
        expires_at=now_utc() + INTENT_LIFETIME,
        **more,
    )


async def _owner(session: AsyncSession, account: Pubkey) -> uuid.UUID | None:
    return await wallets.owner_of(session, "solana", str(account))


async def _buy(
    session: AsyncSession,
    runtime: Runtime,
    market: trading.Market,
    account: Pubkey,
    listing_id: uuid.UUID,
    _: int,
) -> Built:
    listing = await repo.listing(session, listing_id)
    if listing is None or listing.status != "active":
        raise Conflict("this listing is not for sale", slug="listing-not-active")
    nft, split = await trading.purchase_terms(session, market, listing, str(account), now_utc())
    assert nft.mint is not None
    intent = _intent(
        IntentKind.BUY,
        account,
        nft.id,
        split.price,
        listing_id=listing.id,
        payouts=split.stored(),
        user_id=await _owner(session, account),
    )
    instructions = escrow.purchase(
        account,
        market.address,
        Pubkey.from_string(nft.mint),
        split,
        f"atelier:buy:{listing.id}:{intent.id}",
    )
    return intent, instructions, [market.authority]


async def _bid(
    session: AsyncSession,
    runtime: Runtime,
    market: trading.Market,
    account: Pubkey,
    listing_id: uuid.UUID,
    lamports: int,
) -> Built:
    intent_id = uuid.uuid4()
    plan = await trading.plan_bid(session, market, listing_id, account, intent_id, lamports)
    intent = _intent(
        IntentKind.BID,
        account,
        plan.listing.nft_id,
        lamports,
        listing_id=listing_id,
        outbids=plan.leading.id if plan.leading else None,
        user_id=await _owner(session, account),
    )
    intent.id = intent_id
    return intent, plan.instructions, [market.authority]


async def _offer(
    session: AsyncSession,
    runtime: Runtime,
    market: trading.Market,
    account: Pubkey,
    nft_id: uuid.UUID,
    lamports: int,
) -> Built:
    intent_id = uuid.uuid4()
    nft, instructions = await trading.plan_offer(
        session, market, nft_id, None, account, intent_id, lamports
    )
    intent = _intent(
        IntentKind.OFFER, account, nft.id, lamports, user_id=await _owner(session, account)
    )
    intent.id = intent_id
    return intent, instructions, []


async def _mint(
    session: AsyncSession,
    runtime: Runtime,
    market: trading.Market,
    account: Pubkey,
    nft_id: uuid.UUID,
    _: int,
) -> Built:
    nft, view = await studios.nft_for(session, nft_id, None)
    key = trading.drop_key(runtime.settings, nft)
    if nft.status != "draft" or nft.drop_price is None or key is None:
        raise Conflict("this drop is not open", slug="drop-closed")
    creators = trading.creators_of(view.collection)
    seller = str(creators[0].address)
    split = await trading.split_for(session, market, nft, int(nft.drop_price), seller)
    instructions = programs.mint_nft_instructions(
        account, key.pubkey(), account, await market.client.rent_exempt(programs.MINT_SIZE)
    )
    if not market.client.embedded:
        instructions.insert(
            4,
            metaplex.create_metadata_account_v3(
                mint=key.pubkey(),
                mint_authority=account,
                payer=account,
                update_authority=creators[0].address,
                name=nft.name,
                symbol=view.collection.symbol,
                uri=trading.metadata_uri(market.origin, nft.id),
                seller_fee_basis_points=view.collection.seller_fee_basis_points,
                creators=creators,
            ),
        )
    instructions += [programs.pay(account, Pubkey.from_string(a), n) for a, n in split.transfers()]
    intent = _intent(
        IntentKind.MINT,
        account,
        nft.id,
        split.price,
        mint=str(key.pubkey()),
        payouts=split.stored(),
        user_id=await _owner(session, account),
    )
    instructions.append(programs.memo(f"atelier:mint:{nft.id}:{intent.id}"))
    return intent, instructions, [key]


_BUILDERS = {"buy": _buy, "bid": _bid, "offer": _offer, "mint": _mint}
_MESSAGES = {
    "buy": lambda i: f"Buying for {sol(int(i.amount))} SOL: the NFT comes to your wallet",
    "bid": lambda i: f"Bidding {sol(int(i.amount))} SOL: held in escrow, refunded if outbid",
    "offer": lambda i: f"Offering {sol(int(i.amount))} SOL: held in escrow until accepted",
    "mint": lambda i: f"Minting for {sol(int(i.amount))} SOL",
}


async def _nft_of(session: AsyncSession, intent: Intent | None) -> Nft:
    nft = await repo.nft(session, intent.nft_id) if intent else None
    if nft is None:
        raise NotFound("no such action", slug="intent-not-found")
    return nft
