"""The market routes' bodies and answers. Amounts are integer lamports (1 SOL = 10^9)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator

from atelier.chain.solana.metaplex import MAX_NAME_LENGTH, MAX_SYMBOL_LENGTH
from atelier.core.schemas import Body, Instant

if TYPE_CHECKING:
    from atelier.market.models import (
        Bid,
        Collection,
        Listing,
        Nft,
        Offer,
        Sale,
        Sponsorship,
        Studio,
    )

Lamports = int
LAMPORTS_PER_SOL = Decimal(10**9)
MAX_LAMPORTS = 2**64 - 1


def lamports_of_sol(text: str | None) -> int:
    """An amount typed in SOL (an Action's parameter, a page's field), in whole lamports."""
    try:
        value = Decimal((text or "").strip()) * LAMPORTS_PER_SOL
    except InvalidOperation:
        raise ValueError("is a number of SOL") from None
    if not value.is_finite() or value != value.to_integral_value() or value <= 0:
        raise ValueError("is a positive number of SOL, to the lamport (9 decimals)")
    if value > MAX_LAMPORTS:
        raise ValueError("is more lamports than there can be")
    return int(value)


def sol(lamports: int) -> str:
    """Lamports as SOL, without trailing zeros."""
    return f"{(Decimal(lamports) / LAMPORTS_PER_SOL).normalize():f}"


def _bytes_at_most(limit: int) -> Any:
    def check(value: str) -> str:
        size = len(value.encode())
        if size > limit:
            raise ValueError(f"is {size} bytes in UTF-8; Metaplex allows at most {limit}")
        return value

    return check


def _solana_address(value: str) -> str:
    from solders.pubkey import Pubkey

    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise ValueError("is not a Solana address (base58, 32 bytes)") from None


class StudioIn(Body):
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=5000)
    settings: dict[str, str | int | bool] = Field(
        default_factory=dict, max_length=50, description="the studio's preferences, free form"
    )


class StudioPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    description: str | None = Field(default=None, max_length=5000)
    settings: dict[str, str | int | bool] | None = Field(default=None, max_length=50)


class StudioOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    description: str
    settings: dict[str, Any]
    role: str | None = Field(description="the caller's role in the studio, if any")
    created_at: datetime

    @classmethod
    def of(cls, studio: Studio, role: str | None) -> StudioOut:
        return cls(
            id=studio.id,
            name=studio.name,
            slug=studio.slug,
            description=studio.description,
            settings=studio.settings,
            role=role,
            created_at=studio.created_at,
        )


class MemberIn(Body):
    user_id: uuid.UUID
    role: Literal["owner", "editor", "viewer"] | None = Field(description="null removes them")


class CreatorIn(Body):
    address: str = Field(description="Solana address")
    share: int = Field(ge=0, le=100)

    _address = field_validator("address")(_solana_address)


class CollectionIn(Body):
    studio_id: uuid.UUID
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    symbol: str = Field(min_length=1, max_length=MAX_SYMBOL_LENGTH)
    description: str = Field(default="", max_length=5000)
    seller_fee_basis_points: int = Field(ge=0, le=10_000, description="royalty on resales")
    creators: list[CreatorIn] | None = Field(
        default=None,
        max_length=10,
        description="1 to 5, shares summing to 100; default: your market wallet, 100",
    )

    _name = field_validator("name")(_bytes_at_most(MAX_NAME_LENGTH))
    _symbol = field_validator("symbol")(_bytes_at_most(MAX_SYMBOL_LENGTH))


class CollectionOut(BaseModel):
    id: uuid.UUID
    studio_id: uuid.UUID
    name: str
    symbol: str
    description: str
    seller_fee_basis_points: int
    creators: list[dict[str, Any]]
    published: bool
    stats: dict[str, Any] | None = None

    @classmethod
    def of(cls, c: Collection, stats: dict[str, Any] | None = None) -> CollectionOut:
        return cls(
            id=c.id,
            studio_id=c.studio_id,
            name=c.name,
            symbol=c.symbol,
            description=c.description,
            seller_fee_basis_points=c.seller_fee_basis_points,
            creators=c.creators,
            published=c.published,
            stats=stats,
        )


class NftIn(Body):
    collection_id: uuid.UUID
    artifact_id: uuid.UUID
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: str = Field(default="", max_length=5000)

    _name = field_validator("name")(_bytes_at_most(MAX_NAME_LENGTH))


class NftOut(BaseModel):
    id: uuid.UUID
    collection_id: uuid.UUID
    artifact_id: uuid.UUID
    name: str
    description: str
    status: str
    mint: str | None
    metadata_account: str | None
    owner_address: str | None
    primary_sale_happened: bool
    attributes: list[dict[str, Any]]
    mint_signature: str | None
    drop_price: Lamports | None

    @classmethod
    def of(cls, nft: Nft) -> NftOut:
        return cls(
            id=nft.id,
            collection_id=nft.collection_id,
            artifact_id=nft.artifact_id,
            name=nft.name,
            description=nft.description,
            status=nft.status,
            mint=nft.mint,
            metadata_account=nft.metadata_account,
            owner_address=nft.owner_address,
            primary_sale_happened=nft.primary_sale_happened,
            attributes=nft.attributes,
            mint_signature=nft.mint_signature,
            drop_price=None if nft.drop_price is None else int(nft.drop_price),
        )


class DropIn(Body):
    price: Lamports | None = Field(ge=1, description="what minting costs; null closes the drop")


class ListingIn(Body):
    nft_id: uuid.UUID
    kind: Literal["fixed", "english", "dutch"] = "fixed"
    price: Lamports | None = Field(default=None, ge=1, description="fixed price")
    reserve: Lamports | None = Field(default=None, ge=1, description="English: least first bid")
    min_increment_bps: int | None = Field(default=None, ge=1, le=10_000)
    duration_s: int | None = Field(
        default=None, ge=60, le=30 * 86400, description="English: from the first bid; Dutch: all"
    )
    extension_s: int | None = Field(default=None, ge=0, le=86400)
    start_price: Lamports | None = Field(default=None, ge=1)
    end_price: Lamports | None = Field(default=None, ge=1)


class RepriceIn(Body):
    price: Lamports = Field(ge=1, description="the new fixed price")


class ListingOut(BaseModel):
    id: uuid.UUID
    nft_id: uuid.UUID
    collection_id: uuid.UUID
    kind: str
    status: str
    seller_address: str
    price: Lamports | None = Field(description="fixed price, leading bid or reserve, start")
    current_price: Lamports | None = Field(description="what buying now costs (fixed, Dutch)")
    reserve: Lamports | None
    min_increment_bps: int | None
    least_next_bid: Lamports | None
    start_price: Lamports | None
    end_price: Lamports | None
    starts_at: datetime
    ends_at: datetime | None
    extension_s: int | None
    duration_s: int | None
    escrow_signature: str | None

    @classmethod
    def of(cls, listing: Listing, current: int | None, least_next: int | None = None) -> ListingOut:
        def amount(value: Any) -> int | None:
            return None if value is None else int(value)

        return cls(
            id=listing.id,
            nft_id=listing.nft_id,
            collection_id=listing.collection_id,
            kind=listing.kind,
            status=listing.status,
            seller_address=listing.seller_address,
            price=amount(listing.price),
            current_price=current,
            reserve=amount(listing.reserve),
            min_increment_bps=listing.min_increment_bps,
            least_next_bid=least_next,
            start_price=amount(listing.start_price),
            end_price=amount(listing.end_price),
            starts_at=listing.starts_at,
            ends_at=listing.ends_at,
            extension_s=listing.extension_s,
            duration_s=listing.duration_s,
            escrow_signature=listing.escrow_signature,
        )


class BuyIn(Body):
    max_price: Lamports | None = Field(
        default=None, ge=1, description="refuse if the price is now above this (Dutch)"
    )


class BidIn(Body):
    amount: Lamports = Field(ge=1)


class BidOut(BaseModel):
    id: uuid.UUID
    listing_id: uuid.UUID
    bidder_address: str
    amount: Lamports
    status: str
    signature: str
    created_at: datetime

    @classmethod
    def of(cls, bid: Bid) -> BidOut:
        return cls(
            id=bid.id,
            listing_id=bid.listing_id,
            bidder_address=bid.bidder_address,
            amount=int(bid.amount),
            status=bid.status,
            signature=bid.signature,
            created_at=bid.created_at,
        )


class OfferIn(Body):
    nft_id: uuid.UUID
    amount: Lamports = Field(ge=1)
    expires_in_s: int = Field(default=7 * 86400, ge=60, le=30 * 86400)


class OfferOut(BaseModel):
    id: uuid.UUID
    nft_id: uuid.UUID
    buyer_address: str
    amount: Lamports
    status: str
    expires_at: datetime
    signature: str
    refund_signature: str | None

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        return cls(
            id=offer.id,
            nft_id=offer.nft_id,
            buyer_address=offer.buyer_address,
            amount=int(offer.amount),
            status=offer.status,
            expires_at=offer.expires_at,
            signature=offer.signature,
            refund_signature=offer.refund_signature,
        )


class SaleOut(BaseModel):
    id: uuid.UUID
    nft_id: uuid.UUID
    kind: str
    price: Lamports
    buyer_address: str
    seller_address: str
    fee: Lamports
    royalties: Lamports
    seller_proceeds: Lamports
    payouts: list[dict[str, Any]]
    signature: str
    slot: int
    created_at: datetime

    @classmethod
    def of(cls, sale: Sale) -> SaleOut:
        return cls(
            id=sale.id,
            nft_id=sale.nft_id,
            kind=sale.kind,
            price=int(sale.price),
            buyer_address=sale.buyer_address,
            seller_address=sale.seller_address,
            fee=int(sale.fee),
            royalties=int(sale.royalties),
            seller_proceeds=int(sale.seller_proceeds),
            payouts=sale.payouts,
            signature=sale.signature,
            slot=sale.slot,
            created_at=sale.created_at,
        )


class SponsorshipIn(Body):
    studio_id: uuid.UUID
    collection_id: uuid.UUID | None = Field(default=None, description="else the whole studio")
    sponsor_name: str = Field(min_length=1, max_length=100)
    sponsor_address: str = Field(description="the Solana address its share is paid to")
    amount: Lamports = Field(ge=0, le=MAX_LAMPORTS, description="what the sponsor puts in")
    revenue_share_bps: int = Field(ge=0, le=10_000)
    starts_at: Instant
    ends_at: Instant

    _address = field_validator("sponsor_address")(_solana_address)


class SponsorshipOut(BaseModel):
    id: uuid.UUID
    studio_id: uuid.UUID
    collection_id: uuid.UUID | None
    sponsor_name: str
    sponsor_address: str
    amount: Lamports
    revenue_share_bps: int
    starts_at: datetime
    ends_at: datetime
    report: dict[str, int] | None = Field(
        default=None, description="sales shared in, their volume, lamports received"
    )

    @classmethod
    def of(cls, s: Sponsorship, report: dict[str, int] | None = None) -> SponsorshipOut:
        return cls(
            id=s.id,
            studio_id=s.studio_id,
            collection_id=s.collection_id,
            sponsor_name=s.sponsor_name,
            sponsor_address=s.sponsor_address,
            amount=int(s.amount),
            revenue_share_bps=s.revenue_share_bps,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            report=report,
        )


class WalletOut(BaseModel):
    address: str
    held: bool = Field(description="Atelier holds its key and signs for you")
    balance: Lamports
