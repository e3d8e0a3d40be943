"""What the market's routes and pages show: one read per view, shared by the JSON API and
the pages, so the two cannot drift (which NFTs an outsider sees, what a listing's next bid
must be) and neither runs a query of its own (DESIGN.md §3: api → service → repository)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.errors import NotFound
from atelier.identity.principal import Principal
from atelier.market import repository as repo
from atelier.market import studios, trading
from atelier.market.models import (
    Bid,
    Collection,
    Listing,
    ListingKind,
    Member,
    Nft,
    Offer,
    Role,
    Sale,
    Studio,
    TreasuryAction,
)
from atelier.market.studios import CollectionView


@dataclass(frozen=True)
class StudioPage:
    studio: Studio
    role: Role | None
    collections: list[Collection]  # all for members, the published ones for others
    members: list[Member]  # members only see who else is one


async def studio_page(
    session: AsyncSession, studio_id: uuid.UUID, principal: Principal | None
) -> StudioPage:
    studio, role = await studios.studio_for(session, studio_id, principal, None)
    collections = [c for c in await repo.collections_of(session, studio_id) if role or c.published]
    members = await repo.members(session, studio_id) if role else []
    return StudioPage(studio, role, collections, members)


@dataclass(frozen=True)
class CollectionPage:
    view: CollectionView
    nfts: list[Nft]
    stats: dict[str, Any]
    sales: list[Sale]


async def collection_page(
    session: AsyncSession, collection_id: uuid.UUID, principal: Principal | None
) -> CollectionPage:
    """The collection with its NFTs (drafts for its studio; hidden ones left out for
    everyone else), its floor and volume, and every sale."""
    view = await studios.collection_for(session, collection_id, principal)
    outsider = view.role is None
    hidden = await studios.hidden_nfts(session) if outsider else set()
    nfts = await repo.nfts_of(session, collection_id, drafts=not outsider, hidden=hidden)
    stats = await repo.collection_stats(session, collection_id)
    sales = await repo.sales_of(session, collection_id=collection_id)
    return CollectionPage(view, nfts, stats, sales)


@dataclass(frozen=True)
class NftPage:
    nft: Nft
    view: CollectionView
    listing: Listing | None
    offers: list[Offer]
    sales: list[Sale]


async def nft_page(
    session: AsyncSession, nft_id: uuid.UUID, principal: Principal | None
) -> NftPage:
    nft, view = await studios.nft_for(session, nft_id, principal)
    listing = await repo.active_listing(session, nft_id)
    offers = await repo.offers_of(session, nft_id)
    sales = await repo.sales_of(session, nft_id=nft_id)
    return NftPage(nft, view, listing, offers, sales)


@dataclass(frozen=True)
class ListingState:
    listing: Listing
    bids: list[Bid]
    least: int | None  # the least next bid, for an English auction
    price: int | None  # now (a Dutch price falls with time)
    ended: bool


async def listing_state(session: AsyncSession, listing_id: uuid.UUID) -> ListingState | None:
    """A listing and its bids as they stand, for a caller that has checked the NFT may be
    seen (`listing_page`): an auction's live stream reads it on every change."""
    listing = await repo.listing(session, listing_id)
    if listing is None:
        return None
    bids = await repo.bids_of(session, listing_id)
    leading = next((b for b in bids if b.status == "leading"), None)
    english = listing.kind == ListingKind.ENGLISH
    now = now_utc()
    return ListingState(
        listing=listing,
        bids=bids,
        least=trading.least_next_bid(listing, leading) if english else None,
        price=trading.current_price(listing, now),
        ended=listing.ends_at is not None and now >= listing.ends_at,
    )


@dataclass(frozen=True)
class ListingPage:
    state: ListingState
    nft: Nft
    view: CollectionView


async def listing_page(
    session: AsyncSession, listing_id: uuid.UUID, principal: Principal | None
) -> ListingPage:
    """A listing with its bids and NFT; 404 `listing-not-found`, or the NFT's own 404 when
    the moderators hid it."""
    state = await listing_state(session, listing_id)
    if state is None:
        raise NotFound("no such listing", slug="listing-not-found")
    nft, view = await studios.nft_for(session, state.listing.nft_id, principal)
    return ListingPage(state, nft, view)


async def least_next_bid(session: AsyncSession, listing: Listing) -> int | None:
    """What the next bid on an English auction must at least be (None for other kinds)."""
    if listing.kind != ListingKind.ENGLISH:
        return None
    return trading.least_next_bid(listing, await repo.leading_bid(session, listing.id))


async def search_listings(
    session: AsyncSession,
    *,
    limit: int,
    collection_id: uuid.UUID | None = None,
    kind: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    after_price: int | None = None,
    after_id: uuid.UUID | None = None,
) -> list[tuple[Listing, Nft]]:
    """Active listings, cheapest first, without the NFTs the moderators hid."""
    return await repo.search_listings(
        session,
        collection_id=collection_id,
        kind=kind,
        min_price=min_price,
        max_price=max_price,
        limit=limit,
        after_price=after_price,
        after_id=after_id,
        hidden=await studios.hidden_nfts(session),
    )


async def treasury_actions(session: AsyncSession) -> list[TreasuryAction]:
    """What the DAO did with the reserve, newest first."""
    return await repo.treasury_actions(session)
