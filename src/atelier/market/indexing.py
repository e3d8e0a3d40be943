"""The chain is the truth; this brings the database to it.

- **Intents** (transactions built for wallets Atelier does not hold, `market/actions.py`):
  a pending one is looked at on chain. Its effect there (the buyer's wallet holds the NFT,
  the bid's or the offer's escrow account holds its lamports, the mint exists) means it
  landed: the sale, bid, offer or mint is recorded once (the intent's id is the record's).
  Once its blockhash is stale and nothing happened, it never will: it expires.
- **Owners.** A minted NFT whose recorded owner no longer holds it moved outside Atelier
  (another market, a plain transfer): the owner is updated; if it was listed here the
  listing can no longer sell (the escrow does not hold it) and is closed.

Every step reads state, not transaction logs, so it is the same against LiteSVM and any
RPC node, and running it twice changes nothing the second time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from solders.pubkey import Pubkey
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.solana import programs
from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.market import escrow, trading
from atelier.market import repository as repo
from atelier.market.models import (
    Bid,
    BidStatus,
    Intent,
    IntentKind,
    IntentStatus,
    ListingStatus,
    NftStatus,
    Offer,
)
from atelier.market.settlement import Split

log = get_logger(__name__)


@dataclass
class Landed:
    landed: int = 0
    expired: int = 0
    moved: int = 0


async def _signature(market: trading.Market, address: Pubkey) -> str:
    found = await market.client.signatures_for(address, limit=1)
    return found[0].signature if found else f"unknown:{address}"


async def _landed_buy(session: AsyncSession, market: trading.Market, intent: Intent) -> bool:
    nft = await repo.nft(session, intent.nft_id, for_update=True)
    assert nft is not None
    assert nft.mint is not None
    mint, buyer = Pubkey.from_string(nft.mint), Pubkey.from_string(intent.account)
    if not await trading.holds(market.client, buyer, mint):
        return False
    listing = (
        await repo.listing(session, intent.listing_id, for_update=True)
        if intent.listing_id
        else None
    )
    if listing is None or listing.status != ListingStatus.ACTIVE:
        return False  # the escrow could only release it once: another intent recorded it
    listing.status, listing.closed_at = ListingStatus.SOLD, now_utc()
    signature = await _signature(market, programs.associated_token_address(buyer, mint))
    await trading.record_sale(
        session,
        market,
        nft,
        Split.of_payouts(intent.payouts),
        kind=listing.kind,
        buyer=intent.account,
        seller=listing.seller_address,
        signature=signature,
        listing=listing,
    )
    intent.signature = signature
    return True


async def _landed_bid(session: AsyncSession, market: trading.Market, intent: Intent) -> bool:
    escrowed = programs.escrow_address(market.address, escrow.escrow_seed(intent.id))
    if await market.client.balance(escrowed) < int(intent.amount):
        return False
    assert intent.listing_id is not None
    listing = await repo.listing(session, intent.listing_id, for_update=True)
    leading = await repo.leading_bid(session, intent.listing_id, for_update=True)
    assert listing is not None
    placed = Bid(
        id=intent.id,
        listing_id=intent.listing_id,
        bidder_id=intent.user_id,
        bidder_address=intent.account,
        amount=int(intent.amount),
    )
    intent.signature = await _signature(market, escrowed)
    in_order = (leading.id if leading else None) == intent.outbids
    open_now = listing.status == ListingStatus.ACTIVE and (
        listing.ends_at is None or now_utc() < listing.ends_at
    )
    if not (in_order and open_now):
        # Another bid took the lead (or the auction closed) while this one was on its way:
        # it landed, but does not count. Its lamports go straight back.
        placed.status, placed.signature = BidStatus.REFUNDED, intent.signature
        placed.refund_signature = await trading.send(
            market,
            escrow.refund(
                market.address,
                escrow.escrow_seed(intent.id),
                Pubkey.from_string(intent.account),
                int(intent.amount),
                f"atelier:refund:{intent.id}",
            ),
            market.authority,
        )
        await rows.add(session, placed)
        return True
    await trading.place_bid(
        session, trading.BidPlan(listing, leading, []), placed, intent.signature
    )
    return True


async def _landed_offer(session: AsyncSession, market: trading.Market, intent: Intent) -> bool:
    escrowed = programs.escrow_address(market.address, escrow.escrow_seed(intent.id))
    if await market.client.balance(escrowed) < int(intent.amount):
        return False
    intent.signature = await _signature(market, escrowed)
    await rows.add(
        session,
        Offer(
            id=intent.id,
            nft_id=intent.nft_id,
            buyer_id=intent.user_id,
            buyer_address=intent.account,
            amount=int(intent.amount),
            expires_at=intent.created_at + trading.OFFER_LIFETIME,
            signature=intent.signature,
        ),
    )
    return True


async def _landed_mint(session: AsyncSession, market: trading.Market, intent: Intent) -> bool:
    assert intent.mint is not None
    mint, owner = Pubkey.from_string(intent.mint), Pubkey.from_string(intent.account)
    if not await trading.holds(market.client, owner, mint):
        return False
    nft = await repo.nft(session, intent.nft_id, for_update=True)
    assert nft is not None
    if nft.status != NftStatus.DRAFT:
        return False
    intent.signature = await _signature(market, mint)
    collection = await repo.collection(session, nft.collection_id)
    assert collection is not None
    creator = str(collection.creators[0]["address"])
    await trading.minted(
        session, market, nft, mint, owner, intent.signature, Pubkey.from_string(creator)
    )
    await trading.record_sale(
        session,
        market,
        nft,
        Split.of_payouts(intent.payouts),
        kind="drop",
        buyer=intent.account,
        seller=creator,
        signature=intent.signature,
    )
    return True


_CHECKS = {
    IntentKind.BUY: _landed_buy,
    IntentKind.BID: _landed_bid,
    IntentKind.OFFER: _landed_offer,
    IntentKind.MINT: _landed_mint,
}


async def settle_intent(session: AsyncSession, runtime: Runtime, intent_id: uuid.UUID) -> str:
    """Look at one intent on chain: "landed" (recorded now or before), "pending" or
    "expired"."""
    market = await trading.market_of(runtime)
    intent = await repo.intent(session, intent_id, for_update=True)
    if intent is None:
        return "expired"
    if intent.status != IntentStatus.PENDING:
        return intent.status
    if await _CHECKS[IntentKind(intent.kind)](session, market, intent):
        intent.status = IntentStatus.LANDED
        log.info("market.intent_landed", kind=intent.kind, intent=str(intent.id))
    elif now_utc() > intent.expires_at:
        intent.status = IntentStatus.EXPIRED
    return intent.status


async def follow_owners(session: AsyncSession, runtime: Runtime, limit: int = 500) -> int:
    """NFTs that moved outside Atelier: their owner updated, their listing closed."""
    minted = await repo.minted_nfts(session, limit)
    if not minted:
        return 0  # nothing to follow: the chain is not even opened
    market = await trading.market_of(runtime)
    moved = 0
    for nft in minted:
        assert nft.mint is not None
        mint = Pubkey.from_string(nft.mint)
        listing = await repo.active_listing(session, nft.id)
        expected = market.address if listing else Pubkey.from_string(nft.owner_address or "")
        if await trading.holds(market.client, expected, mint):
            continue
        holder = await market.client.holder(mint)
        if holder is None or holder == expected:
            continue
        if listing is not None:
            if await repo.pending_intents_for(session, listing.id):
                continue  # a buy through an Action may have landed: its intent records it
            listing.status, listing.closed_at = ListingStatus.CANCELLED, now_utc()
            await trading.listing_changed(session, listing)
        await repo.set_owner(session, nft.id, str(holder))
        log.info("market.nft_moved", nft=str(nft.id), to=str(holder))
        moved += 1
    return moved


async def waiting(session: AsyncSession) -> tuple[int, datetime | None]:
    """Intents waiting to be seen on chain: how many, and since when the oldest."""
    return await repo.pending_intents_summary(session)
