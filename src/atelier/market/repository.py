"""Market queries. Rows a sale changes are read `FOR UPDATE`: two buyers of one listing
are served one after the other, and the second finds it sold."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.governance.models import Proposal
from atelier.market.models import (
    Bid,
    BidStatus,
    Collection,
    Intent,
    IntentStatus,
    Lamports,
    Listing,
    ListingStatus,
    Member,
    Nft,
    NftStatus,
    Offer,
    OfferStatus,
    Sale,
    Sponsorship,
    Studio,
    TreasuryAction,
)


async def studio(session: AsyncSession, studio_id: uuid.UUID) -> Studio | None:
    return await session.get(Studio, studio_id)


async def studio_by_slug(session: AsyncSession, slug: str) -> Studio | None:
    return await session.scalar(select(Studio).where(Studio.slug == slug))


async def studios_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Studio, str]]:
    rows = await session.execute(
        select(Studio, Member.role)
        .join(Member, Member.studio_id == Studio.id)
        .where(Member.user_id == user_id)
        .order_by(Studio.created_at)
    )
    return [(s, role) for s, role in rows.tuples().all()]


async def member(session: AsyncSession, studio_id: uuid.UUID, user_id: uuid.UUID) -> Member | None:
    return await session.get(Member, (studio_id, user_id))


async def members(session: AsyncSession, studio_id: uuid.UUID) -> list[Member]:
    return list(
        await session.scalars(
            select(Member).where(Member.studio_id == studio_id).order_by(Member.created_at)
        )
    )


async def owners(session: AsyncSession, studio_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.studio_id == studio_id, Member.role == "owner")
        )
        or 0
    )


async def collection(
    session: AsyncSession, collection_id: uuid.UUID, *, for_update: bool = False
) -> Collection | None:
    return await session.get(Collection, collection_id, with_for_update=for_update)


async def collections_of(session: AsyncSession, studio_id: uuid.UUID) -> list[Collection]:
    return list(
        await session.scalars(
            select(Collection)
            .where(Collection.studio_id == studio_id)
            .order_by(Collection.created_at)
        )
    )


async def nft(session: AsyncSession, nft_id: uuid.UUID, *, for_update: bool = False) -> Nft | None:
    return await session.get(Nft, nft_id, with_for_update=for_update, populate_existing=for_update)


async def nft_by_mint(session: AsyncSession, mint: str) -> Nft | None:
    return await session.scalar(select(Nft).where(Nft.mint == mint))


async def nfts_of(
    session: AsyncSession,
    collection_id: uuid.UUID,
    *,
    drafts: bool,
    hidden: AbstractSet[uuid.UUID] = frozenset(),
) -> list[Nft]:
    statement = select(Nft).where(Nft.collection_id == collection_id)
    if not drafts:
        statement = statement.where(Nft.status == NftStatus.MINTED)
    if hidden:
        statement = statement.where(Nft.id.not_in(hidden))
    return list(await session.scalars(statement.order_by(Nft.created_at)))


async def minted_nfts(session: AsyncSession, limit: int = 1000) -> list[Nft]:
    return list(
        await session.scalars(
            select(Nft).where(Nft.status == NftStatus.MINTED).order_by(Nft.minted_at).limit(limit)
        )
    )


async def listing(
    session: AsyncSession, listing_id: uuid.UUID, *, for_update: bool = False
) -> Listing | None:
    return await session.get(
        Listing, listing_id, with_for_update=for_update, populate_existing=for_update
    )


async def active_listing(session: AsyncSession, nft_id: uuid.UUID) -> Listing | None:
    return await session.scalar(
        select(Listing).where(Listing.nft_id == nft_id, Listing.status == ListingStatus.ACTIVE)
    )


async def search_listings(
    session: AsyncSession,
    *,
    collection_id: uuid.UUID | None,
    kind: str | None,
    min_price: int | None,
    max_price: int | None,
    limit: int,
    after_price: int | None,
    after_id: uuid.UUID | None,
    hidden: AbstractSet[uuid.UUID] = frozenset(),
) -> list[tuple[Listing, Nft]]:
    """Active listings, cheapest first (auctions and Dutch listings by their stored `price`
    column: the current price of a Dutch one is computed on the page), keyset-paged;
    without the NFTs in `hidden`."""
    statement = (
        select(Listing, Nft)
        .join(Nft, Nft.id == Listing.nft_id)
        .where(Listing.status == ListingStatus.ACTIVE)
    )
    if hidden:
        statement = statement.where(Listing.nft_id.not_in(hidden))
    if collection_id is not None:
        statement = statement.where(Listing.collection_id == collection_id)
    if kind is not None:
        statement = statement.where(Listing.kind == kind)
    if min_price is not None:
        statement = statement.where(Listing.price >= min_price)
    if max_price is not None:
        statement = statement.where(Listing.price <= max_price)
    if after_price is not None and after_id is not None:
        # a row comparison: the (status, price, id) index serves it as one range scan
        statement = statement.where(
            tuple_(Listing.price, Listing.id) > tuple_(after_price, after_id)
        )
    statement = statement.order_by(Listing.price, Listing.id).limit(limit)
    return [(listing, nft) for listing, nft in (await session.execute(statement)).tuples().all()]


async def due_auctions(session: AsyncSession, now: datetime, limit: int = 100) -> list[uuid.UUID]:
    """Auctions whose time is up (English ones only once a bid started their timer)."""
    return list(
        await session.scalars(
            select(Listing.id)
            .where(
                Listing.status == ListingStatus.ACTIVE,
                Listing.kind.in_(("english", "dutch")),
                Listing.ends_at.is_not(None),
                Listing.ends_at <= now,
            )
            .limit(limit)
        )
    )


async def leading_bid(
    session: AsyncSession, listing_id: uuid.UUID, *, for_update: bool = False
) -> Bid | None:
    statement = select(Bid).where(Bid.listing_id == listing_id, Bid.status == BidStatus.LEADING)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def bids_of(session: AsyncSession, listing_id: uuid.UUID) -> list[Bid]:
    return list(
        await session.scalars(
            select(Bid).where(Bid.listing_id == listing_id).order_by(Bid.created_at.desc())
        )
    )


async def offer(
    session: AsyncSession, offer_id: uuid.UUID, *, for_update: bool = False
) -> Offer | None:
    return await session.get(Offer, offer_id, with_for_update=for_update, populate_existing=True)


async def offers_of(session: AsyncSession, nft_id: uuid.UUID) -> list[Offer]:
    return list(
        await session.scalars(
            select(Offer)
            .where(Offer.nft_id == nft_id, Offer.status == OfferStatus.OPEN)
            .order_by(Offer.amount.desc())
        )
    )


async def expired_offers(session: AsyncSession, now: datetime, limit: int = 100) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(Offer.id)
            .where(Offer.status == OfferStatus.OPEN, Offer.expires_at <= now)
            .limit(limit)
        )
    )


async def sales_of(
    session: AsyncSession,
    *,
    collection_id: uuid.UUID | None = None,
    nft_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[Sale]:
    statement = select(Sale).order_by(Sale.created_at.desc()).limit(limit)
    if collection_id is not None:
        statement = statement.where(Sale.collection_id == collection_id)
    if nft_id is not None:
        statement = statement.where(Sale.nft_id == nft_id)
    return list(await session.scalars(statement))


async def collection_stats(session: AsyncSession, collection_id: uuid.UUID) -> dict[str, Any]:
    sold = (
        await session.execute(
            select(
                func.count(), func.coalesce(func.sum(Sale.price), 0), func.max(Sale.price)
            ).where(Sale.collection_id == collection_id)
        )
    ).one()
    floor = await session.scalar(
        select(func.min(Listing.price)).where(
            Listing.collection_id == collection_id,
            Listing.status == ListingStatus.ACTIVE,
            Listing.kind == "fixed",
        )
    )
    return {
        "sales": int(sold[0]),
        "volume": int(sold[1]),
        "highest": None if sold[2] is None else int(sold[2]),
        "floor": None if floor is None else int(floor),
    }


async def set_owner(session: AsyncSession, nft_id: uuid.UUID, owner: str) -> None:
    await session.execute(update(Nft).where(Nft.id == nft_id).values(owner_address=owner))


async def intent(
    session: AsyncSession, intent_id: uuid.UUID, *, for_update: bool = False
) -> Intent | None:
    return await session.get(
        Intent, intent_id, with_for_update=for_update, populate_existing=for_update
    )


async def pending_intents(session: AsyncSession, limit: int = 200) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(Intent.id)
            .where(Intent.status == IntentStatus.PENDING)
            .order_by(Intent.created_at)
            .limit(limit)
        )
    )


async def pending_intents_summary(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many intents wait for their transaction, and since when the oldest does."""
    row = (
        await session.execute(
            select(func.count(), func.min(Intent.created_at)).where(
                Intent.status == IntentStatus.PENDING
            )
        )
    ).one()
    return int(row[0]), row[1]


async def pending_intents_for(session: AsyncSession, listing_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Intent.id)
        .where(Intent.listing_id == listing_id, Intent.status == IntentStatus.PENDING)
        .limit(1)
    )
    return found is not None


async def pending_mint(session: AsyncSession, nft_id: uuid.UUID) -> Intent | None:
    return await session.scalar(
        select(Intent).where(
            Intent.nft_id == nft_id,
            Intent.kind == "mint",
            Intent.status == IntentStatus.PENDING,
        )
    )


async def sponsorship_for(
    session: AsyncSession, studio_id: uuid.UUID, collection_id: uuid.UUID, at: datetime
) -> Sponsorship | None:
    """The agreement that shares in a sale now: the collection's own before its studio's,
    the earliest signed first."""
    return await session.scalar(
        select(Sponsorship)
        .where(
            Sponsorship.studio_id == studio_id,
            or_(Sponsorship.collection_id.is_(None), Sponsorship.collection_id == collection_id),
            Sponsorship.starts_at <= at,
            Sponsorship.ends_at > at,
        )
        .order_by(Sponsorship.collection_id.is_(None), Sponsorship.created_at)
        .limit(1)
    )


async def sponsorships_of(session: AsyncSession, studio_id: uuid.UUID) -> list[Sponsorship]:
    return list(
        await session.scalars(
            select(Sponsorship)
            .where(Sponsorship.studio_id == studio_id)
            .order_by(Sponsorship.starts_at)
        )
    )


async def sponsorship(session: AsyncSession, sponsorship_id: uuid.UUID) -> Sponsorship | None:
    return await session.get(Sponsorship, sponsorship_id)


async def sponsorship_report(session: AsyncSession, sponsorship_id: uuid.UUID) -> dict[str, int]:
    """Sales the agreement shared in, their volume, and what the sponsor received."""
    shared = func.jsonb_path_query_first(
        Sale.payouts, text("'$[*] ? (@.role == \"sponsor\").lamports'")
    )
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Sale.price), 0),
                func.coalesce(func.sum(shared.cast(Lamports)), 0),
            ).where(Sale.sponsorship_id == sponsorship_id)
        )
    ).one()
    return {"sales": int(row[0]), "volume": int(row[1]), "received": int(row[2])}


async def treasury_action(session: AsyncSession, proposal_id: uuid.UUID) -> TreasuryAction | None:
    return await session.get(TreasuryAction, proposal_id)


async def treasury_actions(session: AsyncSession, limit: int = 100) -> list[TreasuryAction]:
    return list(
        await session.scalars(
            select(TreasuryAction).order_by(TreasuryAction.executed_at.desc()).limit(limit)
        )
    )


async def current_fee_bps(session: AsyncSession) -> int | None:
    """The platform fee the DAO last set, if it ever did."""
    return await session.scalar(
        select(TreasuryAction.fee_bps)
        .where(TreasuryAction.kind == "market-fee", TreasuryAction.outcome == "executed")
        .order_by(TreasuryAction.executed_at.desc())
        .limit(1)
    )


async def actions_to_execute(
    session: AsyncSession, now: datetime, limit: int = 20
) -> list[uuid.UUID]:
    """Closed proposals that carry an action the market has not executed (passed or not:
    the caller tallies them)."""
    return list(
        await session.scalars(
            select(Proposal.id)
            .outerjoin(TreasuryAction, TreasuryAction.proposal_id == Proposal.id)
            .where(
                Proposal.action.is_not(None),
                Proposal.ends_at <= now,
                TreasuryAction.proposal_id.is_(None),
            )
            .order_by(Proposal.ends_at)
            .limit(limit)
        )
    )


async def sales_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """(sales settled, distinct buyers) in [start, end): for the product's analytics."""
    row = (
        await session.execute(
            select(func.count(), func.count(func.distinct(Sale.buyer_address))).where(
                Sale.created_at >= start, Sale.created_at < end
            )
        )
    ).one()
    return int(row[0]), int(row[1])
