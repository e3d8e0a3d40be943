"""The market's pages: the market (listings, your studios, your market wallet), a studio
(collections, members, the members' artifacts to make NFTs from), a collection (its NFTs,
floor, volume, price history), an NFT (its artifact and provenance; mint, drop, list, offer,
accept) and a listing (buy; an auction's live countdown and bids over SSE).

Every form posts to the same services as the API and shows the API's problem beside the
field it concerns. A wallet Atelier holds signs on the server (the development wallet of
the embedded default); a wallet of your own signs in the browser through the Actions
endpoints (static/solana-wallet.js, wallet-standard)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from solders.pubkey import Pubkey
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.solana.client import cluster_id
from atelier.core import realtime
from atelier.core.clock import now_utc
from atelier.core.errors import AppError, InvalidInput, ServiceUnavailable
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.identity.service import wallets
from atelier.market import studios, trading, views
from atelier.market.models import ListingKind, NftStatus, Role
from atelier.market.schemas import CollectionIn, NftIn, StudioIn, lamports_of_sol, sol
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    field_errors,
    fragment,
    redirect,
    render,
    sse_event,
)

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Market", "/market", "everyone"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)
# Auction pages following their bids at once, per process (each holds a loop that reads
# the listing once a second).
MAX_WATCHERS = 1000
# A listing's page follows its `market.listing_changed` events (bids, sale, end, a new
# price); a Dutch auction's price falls with time, so the state is also read every REFRESH_S.
LISTING_TOPICS = frozenset({"market.listing_changed"})
REFRESH_S = 5.0
_watchers = asyncio.Semaphore(MAX_WATCHERS)
Page = Callable[[], Awaitable[Response]]


def _sol_field(values: dict[str, str], name: str, *, required: bool = True) -> int | None:
    text = values.get(name, "").strip()
    if not text and not required:
        return None
    try:
        return lamports_of_sol(text)
    except ValueError as exc:
        raise InvalidInput(
            f"{name} {exc}", extra={"errors": [{"loc": [name], "msg": f"SOL amount {exc}"}]}
        ) from None


def _int_field(values: dict[str, str], name: str) -> int | None:
    text = values.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(
            f"{name} is a whole number",
            extra={"errors": [{"loc": [name], "msg": "a whole number"}]},
        )
    return int(text)


async def _form(request: Request) -> dict[str, str]:
    return {k: v for k, v in (await request.form(max_fields=30)).items() if isinstance(v, str)}


async def _wallet(
    session: AsyncSession, runtime: Any, principal: Principal | None
) -> dict[str, Any] | None:
    if principal is None:
        return None
    address = await wallets.solana_address(session, principal.user_id)
    if address is None:
        return None
    try:
        market = await trading.market_of(runtime)
        balance = await market.client.balance(Pubkey.from_string(address))
    except ServiceUnavailable:
        balance = None
    return {"address": address, "balance": None if balance is None else sol(balance)}


# -- the market ---------------------------------------------------------------------------


async def _market(
    request: Request,
    principal: Principal | None,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        found = await views.search_listings(session, limit=60)
        mine = await studios.studios_of(session, principal) if principal else []
        wallet = await _wallet(session, runtime, principal)
    now = now_utc()
    listings = [
        {"listing": listing, "nft": nft, "price": trading.current_price(listing, now)}
        for listing, nft in found
    ]
    return render(
        request,
        "market/market.html",
        who=visitor,
        status_code=status_code,
        listings=listings,
        studios=mine,
        wallet=wallet,
        sol=sol,
        errors=errors or {},
        values=values or {},
        signed_in=principal is not None,
    )


@router.get("/market")
async def market_page(request: Request, principal: PagePrincipal) -> Response:
    return await _market(request, principal)


@router.post("/market/wallet", dependencies=[Csrf])
async def make_wallet(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await trading.market_wallet(session, runtime_of(request), principal)
    except AppError as exc:
        return await _market(request, principal, errors=field_errors(exc), status_code=exc.status)
    return redirect(request, "/market")


@router.post("/market/studios", dependencies=[Csrf])
async def create_studio(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    values = await _form(request)
    try:
        body = StudioIn.from_form(values)
        async with unit_of_work(runtime_of(request)) as session:
            studio = await studios.create_studio(
                session, principal, body.name, body.description, {}
            )
    except (ValidationError, AppError) as exc:
        return await _market(
            request, principal, errors=field_errors(exc), values=values, status_code=422
        )
    return redirect(request, f"/market/studios/{studio.id}")


# -- a studio -----------------------------------------------------------------------------


async def _studio(
    request: Request,
    principal: Principal | None,
    studio_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        try:
            page = await views.studio_page(session, studio_id, principal)
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
        studio, role, collections, members = page.studio, page.role, page.collections, page.members
        assets = await studios.assets(session, principal, studio_id) if principal and role else []
    return render(
        request,
        "market/studio.html",
        who=visitor,
        status_code=status_code,
        studio=studio,
        role=role,
        collections=collections,
        members=members,
        assets=assets,
        may_edit=role in (Role.OWNER, Role.EDITOR),
        errors=errors or {},
        values=values or {},
    )


@router.get("/market/studios/{studio_id}")
async def studio_page(request: Request, principal: PagePrincipal, studio_id: uuid.UUID) -> Response:
    return await _studio(request, principal, studio_id)


@router.post("/market/studios/{studio_id}/collections", dependencies=[Csrf])
async def create_collection(
    request: Request, principal: PagePrincipal, studio_id: uuid.UUID
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    values = await _form(request)
    try:
        royalty = values.get("royalty_percent", "").strip() or "0"
        bps = int(float(royalty) * 100) if royalty.replace(".", "", 1).isdigit() else -1
        body = CollectionIn.model_validate(
            {
                "studio_id": str(studio_id),
                "name": values.get("name", ""),
                "symbol": values.get("symbol", ""),
                "description": values.get("description", ""),
                "seller_fee_basis_points": bps,
            }
        )
        async with unit_of_work(runtime_of(request)) as session:
            collection = await studios.create_collection(
                session,
                principal,
                studio_id,
                name=body.name,
                symbol=body.symbol,
                description=body.description,
                seller_fee_basis_points=body.seller_fee_basis_points,
                creators=None,
            )
    except (ValidationError, AppError) as exc:
        errors = field_errors(exc)
        if "seller_fee_basis_points" in errors:
            errors["royalty_percent"] = "a royalty from 0 to 100 %"
        return await _studio(
            request, principal, studio_id, errors=errors, values=values, status_code=422
        )
    return redirect(request, f"/market/collections/{collection.id}")


@router.post("/market/studios/{studio_id}/nfts", dependencies=[Csrf])
async def draft_nft(request: Request, principal: PagePrincipal, studio_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    values = await _form(request)
    try:
        body = NftIn.model_validate(
            {
                "collection_id": values.get("collection_id", ""),
                "artifact_id": values.get("artifact_id", ""),
                "name": values.get("nft_name", ""),
                "description": values.get("nft_description", ""),
            }
        )
        async with unit_of_work(runtime_of(request)) as session:
            nft = await studios.draft_nft(
                session,
                principal,
                body.collection_id,
                body.artifact_id,
                body.name,
                body.description,
            )
    except (ValidationError, AppError) as exc:
        errors = {
            f"nft_{k}" if k in ("name", "description") else k: v
            for k, v in field_errors(exc).items()
        }
        return await _studio(
            request, principal, studio_id, errors=errors, values=values, status_code=422
        )
    return redirect(request, f"/market/nfts/{nft.id}")


# -- a collection -------------------------------------------------------------------------


@router.get("/market/collections/{collection_id}")
async def collection_page(
    request: Request, principal: PagePrincipal, collection_id: uuid.UUID
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        try:
            page = await views.collection_page(session, collection_id, principal)
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
    return render(
        request,
        "market/collection.html",
        who=visitor,
        view=page.view,
        nfts=page.nfts,
        stats=page.stats,
        sales=page.sales,
        sol=sol,
    )


# -- an NFT -------------------------------------------------------------------------------


async def _nft(
    request: Request,
    principal: Principal | None,
    nft_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        try:
            page = await views.nft_page(session, nft_id, principal)
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
        nft, view, listing = page.nft, page.view, page.listing
        offers, sales = page.offers, page.sales
        wallet = await _wallet(session, runtime, principal)
    facts = {a["trait_type"]: a["value"] for a in nft.attributes}
    mine = wallet is not None and nft.owner_address == wallet["address"]
    return render(
        request,
        "market/nft.html",
        who=visitor,
        status_code=status_code,
        nft=nft,
        view=view,
        listing=listing,
        offers=offers,
        sales=sales,
        facts=facts,
        wallet=wallet,
        mine=mine,
        may_edit=view.role in (Role.OWNER, Role.EDITOR),
        draft=nft.status == NftStatus.DRAFT,
        sol=sol,
        errors=errors or {},
        values=values or {},
        signed_in=principal is not None,
        chain=cluster_id(runtime.settings),
    )


@router.get("/market/nfts/{nft_id}")
async def nft_page(request: Request, principal: PagePrincipal, nft_id: uuid.UUID) -> Response:
    return await _nft(request, principal, nft_id)


Act = Callable[[AsyncSession, Principal, dict[str, str]], Awaitable[str | None]]
Shown = Callable[..., Awaitable[Response]]


async def _form_action(
    request: Request,
    principal: Principal | None,
    subject: uuid.UUID,
    act: Act,
    shown: Shown,
    back: str,
) -> Response:
    """Run a form's action in one unit of work, then go to where it says (else `back`); its
    problem is shown on the page `shown` renders, beside the field it concerns."""
    if principal is None:
        return redirect(request, "/sign-in")
    values = await _form(request)
    try:
        async with unit_of_work(runtime_of(request)) as session:
            target = await act(session, principal, values)
    except (ValidationError, AppError) as exc:
        status = exc.status if isinstance(exc, AppError) else 422
        return await shown(
            request,
            principal,
            subject,
            errors=field_errors(exc),
            values=values,
            status_code=status,
        )
    return redirect(request, target or back)


async def _nft_action(
    request: Request, principal: Principal | None, nft_id: uuid.UUID, act: Act
) -> Response:
    return await _form_action(request, principal, nft_id, act, _nft, f"/market/nfts/{nft_id}")


@router.post("/market/nfts/{nft_id}/mint", dependencies=[Csrf])
async def mint(request: Request, principal: PagePrincipal, nft_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, _: dict[str, str]) -> None:
        await trading.mint(session, runtime_of(request), who, nft_id)

    return await _nft_action(request, principal, nft_id, act)


@router.post("/market/nfts/{nft_id}/drop", dependencies=[Csrf])
async def drop(request: Request, principal: PagePrincipal, nft_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, values: dict[str, str]) -> None:
        price = _sol_field(values, "drop_price", required=False)
        await trading.open_drop(session, runtime_of(request), who, nft_id, price)

    return await _nft_action(request, principal, nft_id, act)


@router.post("/market/nfts/{nft_id}/listings", dependencies=[Csrf])
async def list_nft(request: Request, principal: PagePrincipal, nft_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, values: dict[str, str]) -> str:
        kind = (
            ListingKind(values.get("kind", "fixed"))
            if values.get("kind") in ("fixed", "english", "dutch")
            else ListingKind.FIXED
        )
        minutes = _int_field(values, "duration_min")
        terms = trading.Terms(
            kind,
            price=_sol_field(values, "price") if kind == ListingKind.FIXED else None,
            reserve=_sol_field(values, "reserve") if kind == ListingKind.ENGLISH else None,
            start_price=_sol_field(values, "start_price") if kind == ListingKind.DUTCH else None,
            end_price=_sol_field(values, "end_price") if kind == ListingKind.DUTCH else None,
            duration_s=minutes * 60 if minutes is not None else None,
        )
        listing = await trading.list_nft(session, runtime_of(request), who, nft_id, terms)
        return f"/market/listings/{listing.id}"

    return await _nft_action(request, principal, nft_id, act)


@router.post("/market/nfts/{nft_id}/offers", dependencies=[Csrf])
async def make_offer(request: Request, principal: PagePrincipal, nft_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, values: dict[str, str]) -> None:
        amount = _sol_field(values, "offer")
        assert amount is not None
        await trading.make_offer(session, runtime_of(request), who, nft_id, amount, 7 * 86400)

    return await _nft_action(request, principal, nft_id, act)


@router.post("/market/nfts/{nft_id}/offers/{offer_id}/accept", dependencies=[Csrf])
async def accept_offer(
    request: Request, principal: PagePrincipal, nft_id: uuid.UUID, offer_id: uuid.UUID
) -> Response:
    async def act(session: AsyncSession, who: Principal, _: dict[str, str]) -> None:
        await trading.accept_offer(session, runtime_of(request), who, offer_id)

    return await _nft_action(request, principal, nft_id, act)


# -- a listing ----------------------------------------------------------------------------


def _listing_context(state: views.ListingState) -> dict[str, Any]:
    """What the listing page and its auction fragment show."""
    return {
        "listing": state.listing,
        "bids": state.bids,
        "least": state.least,
        "sol": sol,
        "price": state.price,
        "ended": state.ended,
    }


async def _listing(
    request: Request,
    principal: Principal | None,
    listing_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        try:
            page = await views.listing_page(session, listing_id, principal)
        except AppError as exc:
            return render(
                request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
            )
        wallet = await _wallet(session, runtime, principal)
    return render(
        request,
        "market/listing.html",
        who=visitor,
        status_code=status_code,
        nft=page.nft,
        view=page.view,
        wallet=wallet,
        errors=errors or {},
        values=values or {},
        signed_in=principal is not None,
        embedded=runtime.settings.solana_rpc_url == "embedded",
        chain=cluster_id(runtime.settings),
        **_listing_context(page.state),
    )


@router.get("/market/listings/{listing_id}")
async def listing_page(
    request: Request, principal: PagePrincipal, listing_id: uuid.UUID
) -> Response:
    return await _listing(request, principal, listing_id)


@router.get("/market/auctions/{listing_id}")
async def auction_page(request: Request, listing_id: uuid.UUID) -> Response:
    return redirect(request, f"/market/listings/{listing_id}")


async def _listing_action(
    request: Request, principal: Principal | None, listing_id: uuid.UUID, act: Act
) -> Response:
    back = f"/market/listings/{listing_id}"
    return await _form_action(request, principal, listing_id, act, _listing, back)


@router.post("/market/listings/{listing_id}/buy", dependencies=[Csrf])
async def buy(request: Request, principal: PagePrincipal, listing_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, _: dict[str, str]) -> None:
        await trading.buy(session, runtime_of(request), who, listing_id)

    return await _listing_action(request, principal, listing_id, act)


@router.post("/market/listings/{listing_id}/bids", dependencies=[Csrf])
async def bid(request: Request, principal: PagePrincipal, listing_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, values: dict[str, str]) -> None:
        amount = _sol_field(values, "amount")
        assert amount is not None
        await trading.bid(session, runtime_of(request), who, listing_id, amount)

    return await _listing_action(request, principal, listing_id, act)


@router.post("/market/listings/{listing_id}/settle", dependencies=[Csrf])
async def settle(request: Request, principal: PagePrincipal, listing_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, _: dict[str, str]) -> None:
        await trading.settle(session, runtime_of(request), listing_id)

    return await _listing_action(request, principal, listing_id, act)


@router.post("/market/listings/{listing_id}/price", dependencies=[Csrf])
async def reprice(request: Request, principal: PagePrincipal, listing_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, values: dict[str, str]) -> None:
        price = _sol_field(values, "price")
        assert price is not None
        await trading.reprice(session, runtime_of(request), who, listing_id, price)

    return await _listing_action(request, principal, listing_id, act)


@router.post("/market/listings/{listing_id}/cancel", dependencies=[Csrf])
async def cancel(request: Request, principal: PagePrincipal, listing_id: uuid.UUID) -> Response:
    async def act(session: AsyncSession, who: Principal, _: dict[str, str]) -> None:
        await trading.cancel_listing(session, runtime_of(request), who, listing_id)

    return await _listing_action(request, principal, listing_id, act)


@router.get("/market/listings/{listing_id}/events")
async def listing_events(
    request: Request, principal: PagePrincipal, listing_id: uuid.UUID
) -> Response:
    """The auction's state and bids as HTML, pushed when they change (htmx SSE), until the
    listing closes (404 when its NFT is hidden, as on its page). At most MAX_WATCHERS at
    once per process: more get 503."""
    if _watchers.locked():
        raise ServiceUnavailable(
            "too many people are watching auctions; try again soon", slug="too-many-watchers"
        )
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        await views.listing_page(session, listing_id, principal)  # 404 if missing or hidden
    client = realtime.client_of(request, principal.user_id if principal else None)
    realtime.hub_of(runtime).admit(client)
    about_this_listing = str(listing_id)
    nudged = realtime.nudges(
        runtime,
        frozenset({realtime.PUBLIC}),
        LISTING_TOPICS,
        lambda payload: payload.get("listing_id") == about_this_listing,
        every_s=REFRESH_S,
        client=client,
    )

    async def stream() -> AsyncIterator[bytes]:
        async with _watchers, aclosing(nudged):
            shown = None
            async for _ in nudged:
                if await request.is_disconnected():
                    return
                async with unit_of_work(runtime) as session:
                    state = await views.listing_state(session, listing_id)
                if state is None:
                    return
                context = _listing_context(state)
                html = fragment("market/auction_state.html", **context)
                if html != shown:
                    shown = html
                    yield sse_event("auction", html)
                else:
                    yield b": keep-alive\n\n"
                if context["listing"].status != "active":
                    yield sse_event("done", "")
                    return

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
