"""AiNFT's studios and market: studios and members, collections, NFTs (draft, mint, the
metadata JSON and the media), listings (fixed, English, Dutch), bids, offers, sales and
price history. Every write runs in one unit of work with the Solana transaction it sends."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.grid import service as grid
from atelier.identity.deps import CurrentPrincipal, OptionalPrincipal, limit_writes
from atelier.market import studios, trading, treasury, views
from atelier.market.models import Listing, ListingKind, Role, TreasuryAction
from atelier.market.schemas import (
    BidIn,
    BidOut,
    BuyIn,
    CollectionIn,
    CollectionOut,
    DropIn,
    ListingIn,
    ListingOut,
    MemberIn,
    NftIn,
    NftOut,
    OfferIn,
    OfferOut,
    RepriceIn,
    SaleOut,
    SponsorshipIn,
    SponsorshipOut,
    StudioIn,
    StudioOut,
    StudioPatch,
    WalletOut,
)
from atelier.storage.blobs import store_for

router = APIRouter(prefix="/api/market", tags=["market"])
WRITES = [Depends(limit_writes)]


@router.post("/wallet", response_model=WalletOut, dependencies=WRITES)
async def market_wallet(request: Request, principal: CurrentPrincipal) -> WalletOut:
    """Your Solana wallet for the market: made (held by Atelier) if you have none; on the
    embedded runtime a new one receives the development faucet's lamports."""
    async with unit_of_work(runtime_of(request)) as session:
        address, held, balance = await trading.market_wallet(
            session, runtime_of(request), principal
        )
    return WalletOut(address=address, held=held, balance=balance)


@router.post("/studios", response_model=StudioOut, status_code=201, dependencies=WRITES)
async def create_studio(request: Request, principal: CurrentPrincipal, body: StudioIn) -> StudioOut:
    async with unit_of_work(runtime_of(request)) as session:
        studio = await studios.create_studio(
            session, principal, body.name, body.description, dict(body.settings)
        )
    return StudioOut.of(studio, "owner")


@router.get("/studios", response_model=list[StudioOut])
async def my_studios(request: Request, principal: CurrentPrincipal) -> list[StudioOut]:
    async with unit_of_work(runtime_of(request)) as session:
        return [StudioOut.of(s, role) for s, role in await studios.studios_of(session, principal)]


@router.get("/studios/{studio_id}")
async def studio_detail(
    request: Request, principal: OptionalPrincipal, studio_id: uuid.UUID
) -> dict[str, Any]:
    """The studio; its members and every collection for members, published ones for others."""
    async with unit_of_work(runtime_of(request)) as session:
        page = await views.studio_page(session, studio_id, principal)
    return {
        "studio": StudioOut.of(page.studio, page.role),
        "members": [{"user_id": m.user_id, "role": m.role} for m in page.members],
        "collections": [CollectionOut.of(c) for c in page.collections],
    }


@router.patch("/studios/{studio_id}", response_model=StudioOut, dependencies=WRITES)
async def update_studio(
    request: Request, principal: CurrentPrincipal, studio_id: uuid.UUID, body: StudioPatch
) -> StudioOut:
    """Rename, describe, set preferences (owners)."""
    async with unit_of_work(runtime_of(request)) as session:
        studio, role = await studios.update_studio(
            session,
            principal,
            studio_id,
            name=body.name,
            description=body.description,
            settings=dict(body.settings) if body.settings is not None else None,
        )
    return StudioOut.of(studio, role)


@router.put("/studios/{studio_id}/members", status_code=204, dependencies=WRITES)
async def set_member(
    request: Request, principal: CurrentPrincipal, studio_id: uuid.UUID, body: MemberIn
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        await studios.set_member(
            session, principal, studio_id, body.user_id, Role(body.role) if body.role else None
        )
    return Response(status_code=204)


@router.get("/studios/{studio_id}/assets")
async def studio_assets(
    request: Request, principal: CurrentPrincipal, studio_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Artifacts the studio's members made: what its NFTs are made from (members only)."""
    async with unit_of_work(runtime_of(request)) as session:
        made = await studios.assets(session, principal, studio_id)
    return [
        {
            "artifact_id": m.artifact.id,
            "job_id": m.request_id,
            "kind": m.kind,
            "prompt": m.prompt,
            "mime": m.artifact.mime,
            "created_at": m.artifact.created_at,
        }
        for m in made
    ]


@router.post("/collections", response_model=CollectionOut, status_code=201, dependencies=WRITES)
async def create_collection(
    request: Request, principal: CurrentPrincipal, body: CollectionIn
) -> CollectionOut:
    async with unit_of_work(runtime_of(request)) as session:
        collection = await studios.create_collection(
            session,
            principal,
            body.studio_id,
            name=body.name,
            symbol=body.symbol,
            description=body.description,
            seller_fee_basis_points=body.seller_fee_basis_points,
            creators=[c.model_dump() for c in body.creators] if body.creators is not None else None,
        )
    return CollectionOut.of(collection)


@router.get("/collections/{collection_id}")
async def collection_detail(
    request: Request, principal: OptionalPrincipal, collection_id: uuid.UUID
) -> dict[str, Any]:
    """The collection, its NFTs (drafts for the studio), stats (floor, volume) and its price
    history (every sale)."""
    async with unit_of_work(runtime_of(request)) as session:
        page = await views.collection_page(session, collection_id, principal)
    return {
        "collection": CollectionOut.of(page.view.collection, page.stats),
        "nfts": [NftOut.of(n) for n in page.nfts],
        "price_history": [
            {"at": s.created_at, "price": int(s.price), "nft_id": s.nft_id, "kind": s.kind}
            for s in reversed(page.sales)
        ],
    }


@router.post("/nfts", response_model=NftOut, status_code=201, dependencies=WRITES)
async def draft_nft(request: Request, principal: CurrentPrincipal, body: NftIn) -> NftOut:
    """An NFT draft from an artifact a studio member made; its attributes carry the
    artifact's CID, C2PA state and originality."""
    async with unit_of_work(runtime_of(request)) as session:
        nft = await studios.draft_nft(
            session, principal, body.collection_id, body.artifact_id, body.name, body.description
        )
    return NftOut.of(nft)


@router.get("/nfts/{nft_id}")
async def nft_detail(
    request: Request, principal: OptionalPrincipal, nft_id: uuid.UUID
) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        page = await views.nft_page(session, nft_id, principal)
        listed = await _listing_out(session, page.listing) if page.listing else None
    return {
        "nft": NftOut.of(page.nft),
        "collection": CollectionOut.of(page.view.collection),
        "listing": listed,
        "offers": [OfferOut.of(o) for o in page.offers],
        "sales": [SaleOut.of(s) for s in page.sales],
        "metadata_uri": trading.metadata_uri(runtime.settings.origin, page.nft.id),
    }


@router.get("/nfts/{nft_id}/metadata.json")
async def nft_metadata(
    request: Request, principal: OptionalPrincipal, nft_id: uuid.UUID
) -> dict[str, Any]:
    """The Metaplex metadata JSON (the on-chain `uri` points here)."""
    settings = runtime_of(request).settings
    async with unit_of_work(runtime_of(request)) as session:
        nft, view = await studios.nft_for(session, nft_id, principal)
        download = await grid.artifact_download(session, nft.artifact_id)
    media = f"{settings.origin}/api/market/nfts/{nft.id}/media"
    category = download.mime.split("/")[0]
    document: dict[str, Any] = {
        "name": nft.name,
        "symbol": view.collection.symbol,
        "description": nft.description,
        "seller_fee_basis_points": view.collection.seller_fee_basis_points,
        "image": media if category == "image" else f"{settings.origin}/static/nft-placeholder.svg",
        "external_url": f"{settings.origin}/market/nfts/{nft.id}",
        "attributes": nft.attributes,
        "properties": {
            "category": {"image": "image", "audio": "audio", "video": "video"}.get(
                category, "image"
            ),
            "files": [{"uri": media, "type": download.mime}],
            "creators": view.collection.creators,
        },
    }
    if category in ("audio", "video"):
        document["animation_url"] = media
    return document


@router.get("/nfts/{nft_id}/media")
async def nft_media(
    request: Request, principal: OptionalPrincipal, nft_id: uuid.UUID
) -> FileResponse:
    """The NFT's artifact: its C2PA-signed copy (Range requests work)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        nft, _ = await studios.nft_for(session, nft_id, principal)
        download = await grid.artifact_download(session, nft.artifact_id)
    path = store_for(runtime.settings.blobs_dir).path(download.storage_key)
    return FileResponse(
        path, media_type=download.mime, headers={"Cache-Control": "public, max-age=3600"}
    )


@router.post("/nfts/{nft_id}/mint", response_model=NftOut, dependencies=WRITES)
async def mint_nft(request: Request, principal: CurrentPrincipal, nft_id: uuid.UUID) -> NftOut:
    """Mint the draft into your market wallet (you pay the rent and fee)."""
    async with unit_of_work(runtime_of(request)) as session:
        nft = await trading.mint(session, runtime_of(request), principal, nft_id)
    return NftOut.of(nft)


@router.put("/nfts/{nft_id}/drop", response_model=NftOut, dependencies=WRITES)
async def open_drop(
    request: Request, principal: CurrentPrincipal, nft_id: uuid.UUID, body: DropIn
) -> NftOut:
    """Offer a draft for anyone to mint at `price` through its Action (null: close it). Its
    mint address is fixed now: however many collectors sign, one NFT can exist."""
    async with unit_of_work(runtime_of(request)) as session:
        nft = await trading.open_drop(session, runtime_of(request), principal, nft_id, body.price)
    return NftOut.of(nft)


async def _listing_out(session: AsyncSession, listing: Listing) -> ListingOut:
    least = await views.least_next_bid(session, listing)
    return ListingOut.of(listing, trading.current_price(listing, now_utc()), least)


@router.post("/listings", response_model=ListingOut, status_code=201, dependencies=WRITES)
async def create_listing(
    request: Request, principal: CurrentPrincipal, body: ListingIn
) -> ListingOut:
    """List an NFT you hold: it moves into the market's escrow until sold or cancelled."""
    terms = trading.Terms(
        ListingKind(body.kind),
        price=body.price,
        reserve=body.reserve,
        min_increment_bps=body.min_increment_bps,
        duration_s=body.duration_s,
        extension_s=body.extension_s,
        start_price=body.start_price,
        end_price=body.end_price,
    )
    async with unit_of_work(runtime_of(request)) as session:
        listing = await trading.list_nft(
            session, runtime_of(request), principal, body.nft_id, terms
        )
        return await _listing_out(session, listing)


@router.get("/listings", response_model=list[ListingOut])
async def search_listings(
    request: Request,
    collection_id: uuid.UUID | None = None,
    kind: Annotated[str | None, Query(pattern="^(fixed|english|dutch)$")] = None,
    min_price: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    after_price: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    after_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[ListingOut]:
    """Active listings, cheapest first; page with the last one's `after_price` and `after_id`."""
    async with unit_of_work(runtime_of(request)) as session:
        found = await views.search_listings(
            session,
            collection_id=collection_id,
            kind=kind,
            min_price=min_price,
            max_price=max_price,
            limit=limit,
            after_price=after_price,
            after_id=after_id,
        )
        return [await _listing_out(session, listing) for listing, _ in found]


@router.get("/listings/{listing_id}")
async def listing_detail(
    request: Request, principal: OptionalPrincipal, listing_id: uuid.UUID
) -> dict[str, Any]:
    """A listing and its bids (404 `nft-hidden` when the moderators hid its NFT)."""
    async with unit_of_work(runtime_of(request)) as session:
        state = (await views.listing_page(session, listing_id, principal)).state
        return {
            "listing": ListingOut.of(state.listing, state.price, state.least),
            "bids": [BidOut.of(b) for b in state.bids],
        }


@router.post("/listings/{listing_id}/buy", response_model=SaleOut, dependencies=WRITES)
async def buy_listing(
    request: Request, principal: CurrentPrincipal, listing_id: uuid.UUID, body: BuyIn | None = None
) -> SaleOut:
    """Buy at the listed (or Dutch current) price: one Solana transaction pays the reserve,
    the creators and the seller and moves the NFT to you."""
    async with unit_of_work(runtime_of(request)) as session:
        sale = await trading.buy(
            session, runtime_of(request), principal, listing_id, body.max_price if body else None
        )
    return SaleOut.of(sale)


@router.patch("/listings/{listing_id}", response_model=ListingOut, dependencies=WRITES)
async def reprice_listing(
    request: Request, principal: CurrentPrincipal, listing_id: uuid.UUID, body: RepriceIn
) -> ListingOut:
    """A new price for your fixed-price listing (409 `not-fixed-price` for auctions,
    `purchase-pending` while a purchase at the old price is on its way)."""
    async with unit_of_work(runtime_of(request)) as session:
        listing = await trading.reprice(
            session, runtime_of(request), principal, listing_id, body.price
        )
        return await _listing_out(session, listing)


@router.post("/listings/{listing_id}/cancel", response_model=ListingOut, dependencies=WRITES)
async def cancel_listing(
    request: Request, principal: CurrentPrincipal, listing_id: uuid.UUID
) -> ListingOut:
    async with unit_of_work(runtime_of(request)) as session:
        listing = await trading.cancel_listing(session, runtime_of(request), principal, listing_id)
        return await _listing_out(session, listing)


@router.post(
    "/listings/{listing_id}/bids", response_model=BidOut, status_code=201, dependencies=WRITES
)
async def place_bid(
    request: Request, principal: CurrentPrincipal, listing_id: uuid.UUID, body: BidIn
) -> BidOut:
    async with unit_of_work(runtime_of(request)) as session:
        placed = await trading.bid(session, runtime_of(request), principal, listing_id, body.amount)
    return BidOut.of(placed)


@router.post("/listings/{listing_id}/settle", dependencies=WRITES)
async def settle_auction(
    request: Request, principal: CurrentPrincipal, listing_id: uuid.UUID
) -> dict[str, Any]:
    """Close an auction whose time is up (anyone may; the market also does it on its own)."""
    async with unit_of_work(runtime_of(request)) as session:
        sale = await trading.settle(session, runtime_of(request), listing_id)
    return {"sale": SaleOut.of(sale) if sale else None}


@router.post("/offers", response_model=OfferOut, status_code=201, dependencies=WRITES)
async def make_offer(request: Request, principal: CurrentPrincipal, body: OfferIn) -> OfferOut:
    async with unit_of_work(runtime_of(request)) as session:
        offer = await trading.make_offer(
            session, runtime_of(request), principal, body.nft_id, body.amount, body.expires_in_s
        )
    return OfferOut.of(offer)


@router.post("/offers/{offer_id}/accept", response_model=SaleOut, dependencies=WRITES)
async def accept_offer(
    request: Request, principal: CurrentPrincipal, offer_id: uuid.UUID
) -> SaleOut:
    async with unit_of_work(runtime_of(request)) as session:
        sale = await trading.accept_offer(session, runtime_of(request), principal, offer_id)
    return SaleOut.of(sale)


@router.post("/offers/{offer_id}/cancel", response_model=OfferOut, dependencies=WRITES)
async def cancel_offer(
    request: Request, principal: CurrentPrincipal, offer_id: uuid.UUID
) -> OfferOut:
    async with unit_of_work(runtime_of(request)) as session:
        offer = await trading.close_offer(session, runtime_of(request), offer_id, principal)
    return OfferOut.of(offer)


@router.post("/sponsorships", response_model=SponsorshipOut, status_code=201, dependencies=WRITES)
async def create_sponsorship(
    request: Request, principal: CurrentPrincipal, body: SponsorshipIn
) -> SponsorshipOut:
    """A sponsor's agreement with a studio (or one collection): its share of every sale in
    the period is paid at settlement, in the sale's own transaction."""
    async with unit_of_work(runtime_of(request)) as session:
        agreement = await studios.create_sponsorship(
            session,
            principal,
            body.studio_id,
            collection_id=body.collection_id,
            sponsor_name=body.sponsor_name,
            sponsor_address=body.sponsor_address,
            amount=body.amount,
            revenue_share_bps=body.revenue_share_bps,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        )
    return SponsorshipOut.of(agreement)


@router.get("/studios/{studio_id}/sponsorships", response_model=list[SponsorshipOut])
async def studio_sponsorships(
    request: Request, principal: CurrentPrincipal, studio_id: uuid.UUID
) -> list[SponsorshipOut]:
    """The studio's agreements with what each shared in (sales, volume, received)."""
    async with unit_of_work(runtime_of(request)) as session:
        reports = await studios.sponsorship_reports(session, principal, studio_id)
    return [SponsorshipOut.of(agreement, report) for agreement, report in reports]


@router.post("/treasury/{proposal_id}/execute", dependencies=WRITES)
async def execute_proposal(
    request: Request, principal: CurrentPrincipal, proposal_id: uuid.UUID
) -> dict[str, Any]:
    """Do what a passed DAO proposal decided (a spend from the reserve, a new platform fee),
    once; anyone may ask, the proposal decides (the market also does it on its own)."""
    async with unit_of_work(runtime_of(request)) as session:
        done = await treasury.execute(session, runtime_of(request), proposal_id)
    return _treasury_out(done)


def _treasury_out(done: TreasuryAction) -> dict[str, Any]:
    return {
        "proposal_id": done.proposal_id,
        "kind": done.kind,
        "outcome": done.outcome,
        "to": done.to_address,
        "lamports": None if done.lamports is None else int(done.lamports),
        "fee_bps": done.fee_bps,
        "signature": done.signature,
        "executed_at": done.executed_at,
    }


@router.get("/treasury")
async def treasury_info(request: Request) -> dict[str, Any]:
    """The reserve (name, address, balance), the platform fee in force, what the DAO did."""
    runtime = runtime_of(request)
    market = await trading.market_of(runtime)
    async with unit_of_work(runtime) as session:
        fee = await trading.fee_bps(session, market)
        actions = await views.treasury_actions(session)
    return {
        "reserve": {
            "name": market.reserve_name,
            "address": str(market.reserve),
            "balance": await market.client.balance(market.reserve),
        },
        "fee_bps": fee,
        "actions": [_treasury_out(a) for a in actions],
    }


@router.get("")
async def market_info(request: Request) -> dict[str, Any]:
    market = await trading.market_of(runtime_of(request))
    async with unit_of_work(runtime_of(request)) as session:
        fee = await trading.fee_bps(session, market)
    return {
        "authority": str(market.address),
        "reserve": {"name": market.reserve_name, "address": str(market.reserve)},
        "fee_bps": fee,
        "embedded": market.client.embedded,
    }
