"""The market's tables: studios and their members, collections, NFTs, listings (fixed price,
English and Dutch auctions), bids, offers and sales. Amounts are integer lamports."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base

# Lamports are u64 on chain: NUMERIC(20) holds every one of them exactly.
Lamports = Numeric(20, 0)


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class NftStatus(StrEnum):
    DRAFT = "draft"
    MINTED = "minted"


class ListingKind(StrEnum):
    FIXED = "fixed"
    ENGLISH = "english"
    DUTCH = "dutch"


class ListingStatus(StrEnum):
    ACTIVE = "active"
    SOLD = "sold"
    CANCELLED = "cancelled"
    ENDED = "ended"  # an auction that closed without a bid at its reserve: NFT returned


class BidStatus(StrEnum):
    LEADING = "leading"
    REFUNDED = "refunded"
    WON = "won"


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Studio(Base):
    """A creator workspace: members with roles, settings, the collections it publishes."""

    __tablename__ = "market_studios"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Member(Base):
    __tablename__ = "market_studio_members"
    __table_args__ = (CheckConstraint("role IN ('owner', 'editor', 'viewer')", name="known_role"),)

    studio_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_studios.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Collection(Base):
    """Metaplex-standard collection metadata: name, symbol, royalty (seller fee basis points)
    and up to five creators whose shares sum to 100."""

    __tablename__ = "market_collections"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    studio_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_studios.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text, server_default="")
    seller_fee_basis_points: Mapped[int] = mapped_column(Integer)
    creators: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    published: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Nft(Base):
    """An NFT made from an accepted artifact: a draft (the studio sees it) until minted (then
    public, with its mint address, owner and metadata account)."""

    __tablename__ = "market_nfts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_collections.id", ondelete="CASCADE"), index=True
    )
    artifact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, server_default="")
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'draft'"))
    mint: Mapped[str | None] = mapped_column(String(44), unique=True)
    metadata_account: Mapped[str | None] = mapped_column(String(44))
    owner_address: Mapped[str | None] = mapped_column(String(44), index=True)
    primary_sale_happened: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # A drop: the studio offers the draft for anyone to mint at this price (a Solana Action).
    # Every mint transaction built for it uses one mint address (its key kept sealed), so
    # only the first to land can create it: one NFT per draft, however many collectors try.
    drop_price: Mapped[int | None] = mapped_column(Lamports)
    sealed_mint_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    mint_signature: Mapped[str | None] = mapped_column(String(100))
    minted_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Listing(Base):
    """An NFT for sale, held in the market's escrow token account while active.

    fixed: `price`. english: `reserve`, `min_increment_bps`, `duration_s` counted from the
    first bid at or above the reserve (`ends_at` is set then), `extension_s` after a late
    bid. dutch: `start_price` falling linearly to `end_price` from `starts_at` to `ends_at`.
    At most one active listing per NFT (a partial unique index)."""

    __tablename__ = "market_listings"
    __table_args__ = (
        Index(
            "uq_market_listings_active_nft",
            "nft_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_market_listings_status_price", "status", "price", "id"),
        CheckConstraint("kind IN ('fixed', 'english', 'dutch')", name="known_kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    nft_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_nfts.id", ondelete="CASCADE"), index=True
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_collections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'active'"))
    seller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    seller_address: Mapped[str] = mapped_column(String(44))
    price: Mapped[int | None] = mapped_column(Lamports)
    reserve: Mapped[int | None] = mapped_column(Lamports)
    min_increment_bps: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    extension_s: Mapped[int | None] = mapped_column(Integer)
    start_price: Mapped[int | None] = mapped_column(Lamports)
    end_price: Mapped[int | None] = mapped_column(Lamports)
    starts_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ends_at: Mapped[datetime | None] = mapped_column()
    escrow_signature: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Bid(Base):
    """A bid on an English auction; its lamports wait in their own escrow account (seed =
    the bid id's hex) until it wins or is outbid and refunded."""

    __tablename__ = "market_bids"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_listings.id", ondelete="CASCADE"), index=True
    )
    # None: a wallet no account of ours holds (a bid through a Solana Action)
    bidder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bidder_address: Mapped[str] = mapped_column(String(44))
    amount: Mapped[int] = mapped_column(Lamports)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'leading'"))
    signature: Mapped[str] = mapped_column(String(100), server_default="")
    refund_signature: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Offer(Base):
    """An offer on a minted NFT, its lamports escrowed (seed = the offer id's hex) until it is
    accepted, cancelled, or expires and is refunded."""

    __tablename__ = "market_offers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    nft_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_nfts.id", ondelete="CASCADE"), index=True
    )
    buyer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    buyer_address: Mapped[str] = mapped_column(String(44))
    amount: Mapped[int] = mapped_column(Lamports)
    expires_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(10), server_default=text("'open'"))
    signature: Mapped[str] = mapped_column(String(100))
    refund_signature: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Sponsorship(Base):
    """A sponsor's agreement with a studio, or one of its collections: what they put in
    (`amount`, lamports, informational), the period, and the share of every sale in scope
    they receive (`revenue_share_bps`, paid at settlement in the sale's own transaction)."""

    __tablename__ = "market_sponsorships"
    __table_args__ = (
        CheckConstraint("revenue_share_bps BETWEEN 0 AND 10000", name="share_in_range"),
        CheckConstraint("ends_at > starts_at", name="period_forward"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    studio_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_studios.id", ondelete="CASCADE"), index=True
    )
    collection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("market_collections.id", ondelete="CASCADE")
    )
    sponsor_name: Mapped[str] = mapped_column(String(100))
    sponsor_address: Mapped[str] = mapped_column(String(44))
    amount: Mapped[int] = mapped_column(Lamports)
    revenue_share_bps: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Sale(Base):
    """One settled sale: the price and exactly where every lamport of it went, in the one
    Solana transaction `signature`. A listing sells at most once (unique)."""

    __tablename__ = "market_sales"
    __table_args__ = (Index("ix_market_sales_collection_at", "collection_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    nft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("market_nfts.id", ondelete="CASCADE"))
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("market_collections.id", ondelete="CASCADE")
    )
    listing_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("market_listings.id"), unique=True
    )
    offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("market_offers.id"), unique=True)
    sponsorship_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("market_sponsorships.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    price: Mapped[int] = mapped_column(Lamports)
    buyer_address: Mapped[str] = mapped_column(String(44))
    seller_address: Mapped[str] = mapped_column(String(44))
    fee: Mapped[int] = mapped_column(Lamports)
    royalties: Mapped[int] = mapped_column(Lamports)
    seller_proceeds: Mapped[int] = mapped_column(Lamports)
    payouts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    signature: Mapped[str] = mapped_column(String(100), unique=True)
    slot: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IntentKind(StrEnum):
    BUY = "buy"
    BID = "bid"
    OFFER = "offer"
    MINT = "mint"


class IntentStatus(StrEnum):
    PENDING = "pending"
    LANDED = "landed"
    EXPIRED = "expired"  # its blockhash went stale before it landed: it never will


class Intent(Base):
    """A transaction built for a wallet Atelier does not hold (a Solana Action): what it
    does, for whom, and the exact payouts it carries. The wallet signs and sends it; the
    chain says whether it landed (`market/indexing.py`), and only then is it recorded (the
    sale, the bid, the offer, the mint), at most once: the intent's id is the bid's or the
    offer's id, and the seed of its escrow account."""

    __tablename__ = "market_intents"
    __table_args__ = (Index("ix_market_intents_status_expires", "status", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(10))
    listing_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("market_listings.id", ondelete="CASCADE"), index=True
    )
    nft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("market_nfts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(String(44))
    amount: Mapped[int] = mapped_column(Lamports)
    payouts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    mint: Mapped[str | None] = mapped_column(String(44))
    # the bid this one outbids (its escrow is refunded by the same transaction)
    outbids: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    signature: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TreasuryAction(Base):
    """What a passed DAO proposal made the market do, once: a spend from the reserve (with
    its transaction) or a new platform fee. The proposal id is the key: executing it again
    finds this row and does nothing."""

    __tablename__ = "market_treasury_actions"

    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # "executed", or the tally's outcome when the proposal did not pass (nothing was done)
    outcome: Mapped[str] = mapped_column(String(20))
    to_address: Mapped[str | None] = mapped_column(String(44))
    lamports: Mapped[int | None] = mapped_column(Lamports)
    fee_bps: Mapped[int | None] = mapped_column(Integer)
    signature: Mapped[str | None] = mapped_column(String(100))
    executed_at: Mapped[datetime] = mapped_column(server_default=func.now())
