"""Minting, listing, buying, bidding, settling and offers: each one Solana transaction, sent
while the rows it changes are locked, recorded in the same database transaction.

Rows first, chain second, commit last: the listing (or offer) is read `FOR UPDATE`, so two
buyers are served in turn and the second finds it sold; the chain transaction is then sent
and confirmed; the sale is written and committed. Should the commit fail after the chain
took the transaction, the indexer finds the NFT where the chain says it is (its owner is
updated, the listing closed: market/indexing.py); the chain is the truth, and the sale's
payouts stay there, in the transaction whose memo names the listing.

Users sign with the Solana wallet the platform holds for them (their development or
custodial wallet); a wallet of their own signs the same transactions through the Actions
endpoints (market/actions.py), which build them here.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.solana import metaplex, programs
from atelier.chain.solana.client import (
    SolanaClient,
    TransactionRejected,
    send_fresh,
    solana_for,
)
from atelier.chain.solana.keys import platform_keypair
from atelier.core import events
from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from atelier.core.runtime import Runtime
from atelier.core.secrets import seal, unseal
from atelier.economy import money
from atelier.identity.principal import Principal
from atelier.identity.service import wallets
from atelier.market import escrow, studios
from atelier.market import repository as repo
from atelier.market.events import ListingChanged
from atelier.market.models import (
    Bid,
    BidStatus,
    Collection,
    Listing,
    ListingKind,
    ListingStatus,
    Nft,
    NftStatus,
    Offer,
    OfferStatus,
    Role,
    Sale,
)
from atelier.market.schemas import sol
from atelier.market.settlement import Split, SplitError, split_sale

# How long an offer made through an Action stands (the API's offers say their own).
OFFER_LIFETIME = timedelta(days=7)
# What the market authority keeps for fees on the embedded runtime, topped up at open.
EMBEDDED_FLOAT = 1_000 * programs.LAMPORTS_PER_SOL


class ChainRefused(Conflict):
    slug = "transaction-failed"


@dataclass(frozen=True)
class Market:
    """What trading needs from the chain: the endpoint, the market's authority (it signs),
    and the reserve the platform fee goes to (`name` resolved to `address`)."""

    client: SolanaClient
    authority: Keypair
    reserve: Pubkey
    reserve_name: str
    fee_bps: int
    origin: str  # where the metadata JSON is served (the on-chain uri)

    @property
    def address(self) -> Pubkey:
        return self.authority.pubkey()


async def listing_changed(session: AsyncSession, listing: Listing) -> None:
    """Its page's followers read it again (the realtime bus)."""
    await events.emit(session, ListingChanged(listing_id=listing.id, status=listing.status))


async def market_of(runtime: Runtime) -> Market:
    market = runtime.adapters.get("market")
    if isinstance(market, Market):
        return market
    settings = runtime.settings
    client = await solana_for(runtime)
    authority = platform_keypair(settings, "market")
    if settings.market_reserve_address:
        reserve = Pubkey.from_string(settings.market_reserve_address)
    elif client.embedded or (settings.secrets_dir / "solana-reserve.key").exists():
        # the embedded runtime's reserve; a second process reaches it over /solana/rpc
        reserve = platform_keypair(settings, "reserve").pubkey()
    else:
        raise ServiceUnavailable(
            "ATELIER_MARKET_RESERVE_ADDRESS is not set: the address "
            f"{settings.market_reserve_name} resolves to is needed to route the platform fee",
            slug="reserve-not-configured",
        )
    if client.embedded:
        await _fund_embedded(client, authority.pubkey(), reserve)
    market = Market(
        client,
        authority,
        reserve,
        settings.market_reserve_name,
        settings.market_fee_bps,
        settings.origin,
    )
    runtime.adapters["market"] = market
    return market


async def _fund_embedded(client: SolanaClient, authority: Pubkey, reserve: Pubkey) -> None:
    airdrop = getattr(client, "airdrop", None)
    if airdrop is None:
        return
    if await client.balance(authority) < EMBEDDED_FLOAT // 2:
        await airdrop(authority, EMBEDDED_FLOAT)
    rent = await client.rent_exempt(0)
    if await client.balance(reserve) < rent:
        await airdrop(reserve, rent)


# -- signing ------------------------------------------------------------------------------


async def signer_of(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> Keypair:
    """The user's platform-held Solana wallet, to sign with; 409 when they have none."""
    wallet = await wallets.solana_wallet(session, settings, user_id)
    if wallet is None or wallet.secret is None:
        raise Conflict(
            "this needs a Solana wallet Atelier holds for you (POST /api/market/wallet); a "
            "wallet of your own signs through the Actions endpoints (/api/actions/…)",
            slug="solana-wallet-required",
        )
    return Keypair.from_seed(wallet.secret)


def build(
    instructions: list[Instruction], payer: Pubkey, signers: list[Keypair], blockhash: Hash
) -> Transaction:
    """Sign with those of `signers` the message needs (solders panics on an extra one);
    every signer it needs must be among them."""
    message = Message.new_with_blockhash(instructions, payer, blockhash)
    needed = message.account_keys[: message.header.num_required_signatures]
    chosen = [k for k in signers if k.pubkey() in needed]
    if len(chosen) != len(needed):
        raise TransactionRejected("a signature the transaction needs is not ours to give")
    return Transaction(chosen, message, blockhash)


async def send(
    market: Market, instructions: list[Instruction], payer: Keypair, *others: Keypair
) -> str:
    """Sign with every key we hold, send, confirm; a refusal is a 409 with the chain's
    reason (e.g. a buyer without the lamports)."""
    signers = [payer, *[k for k in others if k.pubkey() != payer.pubkey()]]
    try:
        return await send_fresh(
            market.client, lambda blockhash: build(instructions, payer.pubkey(), signers, blockhash)
        )
    except TransactionRejected as exc:
        raise ChainRefused(f"the Solana transaction failed: {exc}") from None


async def holds(client: SolanaClient, owner: Pubkey, mint: Pubkey) -> bool:
    account = await client.account(programs.associated_token_address(owner, mint))
    holding = programs.parse_token_account(bytes(account.data)) if account else None
    return holding is not None and holding.amount == 1


# -- minting ------------------------------------------------------------------------------


def metadata_uri(origin: str, nft_id: uuid.UUID) -> str:
    return f"{origin}/api/market/nfts/{nft_id}/metadata.json"


def creators_of(collection: Collection) -> list[metaplex.Creator]:
    return [
        metaplex.Creator(Pubkey.from_string(c["address"]), int(c["share"]))
        for c in collection.creators
    ]


async def mint(
    session: AsyncSession, runtime: Runtime, principal: Principal, nft_id: uuid.UUID
) -> Nft:
    """Mint the draft as an SPL NFT (0 decimals, supply 1, mint authority revoked) into the
    minter's wallet, with its Token Metadata account: created by the program's instruction on
    a cluster, put in place by us on the embedded runtime (which cannot run that program)."""
    nft, view = await studios.nft_for(session, nft_id, principal, Role.EDITOR)
    nft = await repo.nft(session, nft_id, for_update=True) or nft
    if nft.status != NftStatus.DRAFT:
        raise Conflict("this NFT is minted already", slug="already-minted")
    market = await market_of(runtime)
    minter = await signer_of(session, runtime.settings, principal.user_id)
    mint_key = drop_key(runtime.settings, nft) or Keypair()
    uri = metadata_uri(market.origin, nft.id)
    creators = creators_of(view.collection)
    try:
        metaplex.check_fields(
            nft.name, view.collection.symbol, uri, view.collection.seller_fee_basis_points, creators
        )
    except metaplex.MetadataError as exc:
        raise InvalidInput(str(exc), slug="invalid-metadata") from None
    instructions = programs.mint_nft_instructions(
        minter.pubkey(),
        mint_key.pubkey(),
        minter.pubkey(),
        await market.client.rent_exempt(programs.MINT_SIZE),
    )
    if not market.client.embedded:
        instructions.insert(
            4,
            metaplex.create_metadata_account_v3(
                mint=mint_key.pubkey(),
                mint_authority=minter.pubkey(),
                payer=minter.pubkey(),
                update_authority=minter.pubkey(),
                name=nft.name,
                symbol=view.collection.symbol,
                uri=uri,
                seller_fee_basis_points=view.collection.seller_fee_basis_points,
                creators=creators,
            ),
        )
    instructions.append(programs.memo(f"atelier:mint:{nft.id}"))
    signature = await send(market, instructions, minter, mint_key)
    await minted(session, market, nft, mint_key.pubkey(), minter.pubkey(), signature)
    return nft


async def minted(
    session: AsyncSession,
    market: Market,
    nft: Nft,
    mint: Pubkey,
    owner: Pubkey,
    signature: str,
    update_authority: Pubkey | None = None,
) -> None:
    """Record a mint that landed; on the embedded runtime, put its Token Metadata account in
    place (on a cluster the program made it from the mint's instruction). A drop's metadata
    stays the creator's to update (`update_authority`), not the collector's."""
    collection = await repo.collection(session, nft.collection_id)
    assert collection is not None
    metadata = metaplex.Metadata(
        update_authority=update_authority or owner,
        mint=mint,
        name=nft.name,
        symbol=collection.symbol,
        uri=metadata_uri(market.origin, nft.id),
        seller_fee_basis_points=collection.seller_fee_basis_points,
        creators=creators_of(collection),
    )
    pda = metaplex.metadata_address(mint)
    put = getattr(market.client, "set_account", None)
    if market.client.embedded and put is not None:
        data = metaplex.encode_metadata_account(metadata)
        rent = await market.client.rent_exempt(len(data))
        await put(pda, Account(rent, data, metaplex.TOKEN_METADATA_PROGRAM, False, 0))
    nft.status, nft.mint, nft.metadata_account = NftStatus.MINTED, str(mint), str(pda)
    nft.owner_address, nft.mint_signature = str(owner), signature
    nft.minted_at = now_utc()
    collection.published = True


def drop_key(settings: Settings, nft: Nft) -> Keypair | None:
    """The one mint key of a drop (None if the draft was never offered as one)."""
    if nft.sealed_mint_key is None or nft.mint is None:
        return None
    return Keypair.from_bytes(unseal(settings, f"drop:{nft.id}", nft.sealed_mint_key))


async def open_drop(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    nft_id: uuid.UUID,
    price: int | None,
) -> Nft:
    """Offer a draft for anyone to mint at `price` (None: take the offer back). Its mint
    address is fixed now, so however many collectors sign, one NFT can exist."""
    await studios.nft_for(session, nft_id, principal, Role.EDITOR)
    nft = await repo.nft(session, nft_id, for_update=True)
    assert nft is not None
    if nft.status != NftStatus.DRAFT:
        raise Conflict("this NFT is minted already", slug="already-minted")
    if price is not None:
        market = await market_of(runtime)
        rent = await market.client.rent_exempt(0)
        if not rent <= price <= programs.MAX_LAMPORTS:
            raise InvalidInput(
                f"a drop's price is between {rent} and {programs.MAX_LAMPORTS} lamports",
                slug="invalid-price",
            )
    if nft.sealed_mint_key is None:
        key = Keypair()
        nft.sealed_mint_key = seal(runtime.settings, f"drop:{nft.id}", bytes(key))
        nft.mint = str(key.pubkey())
    nft.drop_price = price
    return nft


# -- listing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    kind: ListingKind
    price: int | None = None
    reserve: int | None = None
    min_increment_bps: int | None = None
    duration_s: int | None = None
    extension_s: int | None = None
    start_price: int | None = None
    end_price: int | None = None


async def _owned_nft(
    session: AsyncSession,
    market: Market,
    principal: Principal,
    nft_id: uuid.UUID,
    seller: Keypair,
    *,
    in_escrow: bool = False,
) -> Nft:
    """The caller's minted NFT, locked, which their wallet holds (or, with `in_escrow`, which
    the market's escrow holds for them: a listing whose deposit landed unrecorded)."""
    nft, _ = await studios.nft_for(session, nft_id, principal)
    nft = await repo.nft(session, nft_id, for_update=True) or nft
    if nft.status != NftStatus.MINTED or nft.mint is None:
        raise Conflict("only a minted NFT can be sold", slug="not-minted")
    if nft.owner_address != str(seller.pubkey()):
        raise Forbidden("you do not hold this NFT", slug="not-your-nft")
    mint = Pubkey.from_string(nft.mint)
    if not await holds(market.client, seller.pubkey(), mint) and not (
        in_escrow and await holds(market.client, market.address, mint)
    ):
        raise Conflict(
            "the chain says your wallet no longer holds this NFT (moved elsewhere?)",
            slug="nft-not-held",
        )
    return nft


async def list_nft(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    nft_id: uuid.UUID,
    terms: Terms,
    *,
    listing_id: uuid.UUID | None = None,
) -> Listing:
    """List an NFT: it moves into the market's escrow, then the listing is recorded.

    With a `listing_id` of the caller's (a flow step's, the same on every retry) listing is
    idempotent: a listing already recorded under it is returned, and an NFT the escrow
    already holds for the seller with no listing open (the deposit landed, the transaction
    that would have recorded it did not commit) is recorded without a second deposit."""
    if listing_id is not None:
        done = await repo.listing(session, listing_id)
        if done is not None:
            return done
    market = await market_of(runtime)
    seller = await signer_of(session, runtime.settings, principal.user_id)
    recovering = listing_id is not None
    nft = await _owned_nft(session, market, principal, nft_id, seller, in_escrow=recovering)
    if await repo.active_listing(session, nft.id) is not None:
        raise Conflict("this NFT is listed already", slug="already-listed")
    rent = await market.client.rent_exempt(0)
    _check_terms(terms, rent, runtime.settings)
    listing = Listing(
        id=listing_id or uuid.uuid4(),
        nft_id=nft.id,
        collection_id=nft.collection_id,
        kind=terms.kind,
        seller_id=principal.user_id,
        seller_address=str(seller.pubkey()),
        price=terms.price
        if terms.kind == ListingKind.FIXED
        else (terms.reserve or terms.start_price),
        reserve=terms.reserve,
        min_increment_bps=terms.min_increment_bps,
        duration_s=terms.duration_s,
        extension_s=terms.extension_s,
        start_price=terms.start_price,
        end_price=terms.end_price,
        starts_at=now_utc(),
    )
    if terms.kind == ListingKind.ENGLISH:
        listing.min_increment_bps = (
            terms.min_increment_bps or runtime.settings.market_min_increment_bps
        )
        listing.extension_s = (
            runtime.settings.market_auction_extension_s
            if terms.extension_s is None
            else terms.extension_s
        )
    if terms.kind == ListingKind.DUTCH:
        assert terms.duration_s is not None
        listing.ends_at = listing.starts_at + timedelta(seconds=terms.duration_s)
    assert nft.mint is not None
    mint = Pubkey.from_string(nft.mint)
    if recovering and await holds(market.client, market.address, mint):
        deposited = programs.associated_token_address(market.address, mint)
        found = await market.client.signatures_for(deposited, limit=1)
        listing.escrow_signature = found[0].signature if found else f"unknown:{deposited}"
    else:
        listing.escrow_signature = await send(
            market,
            escrow.deposit_nft(seller.pubkey(), market.address, mint, f"atelier:list:{listing.id}"),
            seller,
        )
    return await rows.add(session, listing, refresh=True)


async def reprice(
    session: AsyncSession, runtime: Runtime, principal: Principal, listing_id: uuid.UUID, price: int
) -> Listing:
    """A new price for a fixed-price listing (the NFT stays in escrow: the price is ours to
    keep). Refused while a purchase built at the old price is on its way."""
    listing = await _active(session, listing_id)
    if listing.seller_id != principal.user_id:
        raise Forbidden("only the seller reprices a listing", slug="not-your-listing")
    if listing.kind != ListingKind.FIXED:
        raise Conflict(
            "only a fixed-price listing is repriced (an auction's price is its bids)",
            slug="not-fixed-price",
        )
    if await repo.pending_intents_for(session, listing.id):
        raise Conflict(
            "a purchase at the current price is on its way; try again once it lands or expires",
            slug="purchase-pending",
        )
    market = await market_of(runtime)
    _check_terms(
        Terms(ListingKind.FIXED, price=price), await market.client.rent_exempt(0), runtime.settings
    )
    listing.price = price
    await listing_changed(session, listing)
    return listing


async def reprice_nft(
    session: AsyncSession, runtime: Runtime, principal: Principal, nft_id: uuid.UUID, price: int
) -> Listing:
    """A new price for the NFT's open listing (an automation's action names the NFT)."""
    listing = await repo.active_listing(session, nft_id)
    if listing is None:
        raise Conflict("this NFT has no open listing", slug="not-listed")
    return await reprice(session, runtime, principal, listing.id, price)


def _check_terms(terms: Terms, rent: int, settings: Settings) -> None:
    """Prices the chain can carry: at least an empty account's rent (an escrow or a payout
    account below it could not exist) and at most a u64."""

    def price(name: str, value: int | None) -> int:
        if value is None:
            raise InvalidInput(
                f"a {terms.kind} listing needs {name}",
                slug="invalid-terms",
                extra={"errors": [{"loc": ["body", name], "msg": "needed for this kind"}]},
            )
        if not rent <= value <= programs.MAX_LAMPORTS:
            message = (
                f"{name} is between {rent} lamports (an account's rent) and {programs.MAX_LAMPORTS}"
            )
            raise InvalidInput(
                message,
                slug="invalid-price",
                extra={"errors": [{"loc": ["body", name], "msg": message}]},
            )
        return value

    if terms.kind == ListingKind.FIXED:
        price("price", terms.price)
    elif terms.kind == ListingKind.ENGLISH:
        price("reserve", terms.reserve)
        if not terms.duration_s or not 60 <= terms.duration_s <= 30 * 86400:
            raise InvalidInput("an auction lasts 60 s to 30 days", slug="invalid-terms")
    else:
        start, end = price("start_price", terms.start_price), price("end_price", terms.end_price)
        if end >= start:
            raise InvalidInput(
                "a Dutch auction's price falls: end below start", slug="invalid-terms"
            )
        if not terms.duration_s or not 60 <= terms.duration_s <= 30 * 86400:
            raise InvalidInput("a Dutch auction lasts 60 s to 30 days", slug="invalid-terms")


def dutch_price(listing: Listing, at: datetime) -> int:
    """Linear from start to end over the window, rounded down to the lamport."""
    assert listing.start_price is not None
    assert listing.end_price is not None
    assert listing.ends_at is not None
    window = (listing.ends_at - listing.starts_at).total_seconds()
    elapsed = min(max((at - listing.starts_at).total_seconds(), 0.0), window)
    drop = (int(listing.start_price) - int(listing.end_price)) * int(elapsed * 1000)
    return int(listing.start_price) - drop // int(window * 1000)


def current_price(listing: Listing, at: datetime) -> int | None:
    if listing.kind == ListingKind.DUTCH:
        return dutch_price(listing, at)
    return None if listing.price is None else int(listing.price)


# -- the split ----------------------------------------------------------------------------


async def fee_bps(session: AsyncSession, market: Market) -> int:
    """The platform fee now: the DAO's last `market-fee` decision, else the setting."""
    decided = await repo.current_fee_bps(session)
    return market.fee_bps if decided is None else decided


async def split_for(
    session: AsyncSession, market: Market, nft: Nft, price: int, seller: str
) -> Split:
    """Where `price` goes for this NFT now: fee, the sponsorship in force (if any),
    royalties or the primary split, the seller."""
    collection = await repo.collection(session, nft.collection_id)
    assert collection is not None
    agreement = await repo.sponsorship_for(session, collection.studio_id, collection.id, now_utc())
    sponsor = (
        (agreement.sponsor_address, agreement.revenue_share_bps, str(agreement.id))
        if agreement
        else None
    )
    try:
        split = split_sale(
            price,
            seller=seller,
            reserve=str(market.reserve),
            fee_bps=await fee_bps(session, market),
            royalty_bps=collection.seller_fee_basis_points,
            creators=[(c["address"], int(c["share"])) for c in collection.creators],
            primary=not nft.primary_sale_happened,
            sponsor=sponsor,
        )
    except SplitError as exc:
        raise InvalidInput(str(exc), slug="invalid-split") from None
    await _check_recipients(market, split)
    return split


async def _check_recipients(market: Market, split: Split) -> None:
    """A payout below an empty account's rent to an account that does not exist yet would
    make the whole sale fail on chain: say so before trying."""
    rent = await market.client.rent_exempt(0)
    for address, lamports in split.transfers():
        if lamports < rent and await market.client.balance(Pubkey.from_string(address)) == 0:
            raise Conflict(
                f"{address} would receive {lamports} lamports but has no account yet (it "
                f"needs {rent}); fund it, or sell at a higher price",
                slug="recipient-without-account",
            )


async def record_sale(
    session: AsyncSession,
    market: Market,
    nft: Nft,
    split: Split,
    *,
    kind: str,
    buyer: str,
    seller: str,
    signature: str,
    listing: Listing | None = None,
    offer: Offer | None = None,
) -> Sale:
    slot = await market.client.slot()
    sale = await rows.add(
        session,
        Sale(
            nft_id=nft.id,
            collection_id=nft.collection_id,
            listing_id=listing.id if listing else None,
            offer_id=offer.id if offer else None,
            kind=kind,
            price=split.price,
            buyer_address=buyer,
            seller_address=seller,
            fee=split.fee,
            royalties=split.royalties,
            seller_proceeds=split.seller_proceeds,
            payouts=split.stored(),
            signature=signature,
            slot=slot,
            sponsorship_id=uuid.UUID(split.sponsorship) if split.sponsorship else None,
        ),
        refresh=True,
    )
    nft.owner_address, nft.primary_sale_happened = buyer, True
    if listing is not None:
        await listing_changed(session, listing)
    if split.fee > 0:
        await money.record(
            session,
            money.Movement(
                f"market fee on {kind} sale of NFT {nft.id} to {market.reserve_name}",
                [
                    money.Leg("Assets:Market:Reserve", split.fee, "SOL"),
                    money.Leg("Income:Market:Fees", -split.fee, "SOL"),
                ],
                source=f"solana:{signature}",
            ),
        )
    return sale


# -- buying -------------------------------------------------------------------------------


async def _active(session: AsyncSession, listing_id: uuid.UUID) -> Listing:
    listing = await repo.listing(session, listing_id, for_update=True)
    if listing is None:
        raise NotFound("no such listing", slug="listing-not-found")
    if listing.status != ListingStatus.ACTIVE:
        raise Conflict(f"this listing is {listing.status}", slug="listing-not-active")
    return listing


async def purchase_terms(
    session: AsyncSession, market: Market, listing: Listing, buyer: str, at: datetime
) -> tuple[Nft, Split]:
    """What buying `listing` now costs `buyer`, and where each lamport goes."""
    if listing.kind == ListingKind.ENGLISH:
        raise Conflict("an English auction is won by bidding", slug="auction-needs-bids")
    if listing.kind == ListingKind.DUTCH and listing.ends_at and at >= listing.ends_at:
        raise Conflict("this Dutch auction has ended", slug="auction-ended")
    if buyer == listing.seller_address:
        raise Conflict("you are the seller", slug="own-listing")
    nft = await repo.nft(session, listing.nft_id, for_update=True)
    assert nft is not None
    price = current_price(listing, at)
    assert price is not None
    return nft, await split_for(session, market, nft, price, listing.seller_address)


async def buy(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    listing_id: uuid.UUID,
    max_price: int | None = None,
) -> Sale:
    market = await market_of(runtime)
    listing = await _active(session, listing_id)
    buyer = await signer_of(session, runtime.settings, principal.user_id)
    nft, split = await purchase_terms(session, market, listing, str(buyer.pubkey()), now_utc())
    if max_price is not None and split.price > max_price:
        raise Conflict(f"the price is {split.price} lamports now", slug="price-changed")
    assert nft.mint is not None
    signature = await send(
        market,
        escrow.purchase(
            buyer.pubkey(),
            market.address,
            Pubkey.from_string(nft.mint),
            split,
            f"atelier:buy:{listing.id}",
        ),
        buyer,
        market.authority,
    )
    listing.status, listing.closed_at = ListingStatus.SOLD, now_utc()
    return await record_sale(
        session,
        market,
        nft,
        split,
        kind=listing.kind,
        buyer=str(buyer.pubkey()),
        seller=listing.seller_address,
        signature=signature,
        listing=listing,
    )


async def cancel_listing(
    session: AsyncSession, runtime: Runtime, principal: Principal, listing_id: uuid.UUID
) -> Listing:
    market = await market_of(runtime)
    listing = await _active(session, listing_id)
    if listing.seller_id != principal.user_id and not principal.has_role("admin"):
        raise Forbidden("only the seller cancels a listing", slug="not-your-listing")
    if listing.kind == ListingKind.ENGLISH and await repo.leading_bid(session, listing.id):
        raise Conflict("an auction with a bid runs to its end", slug="auction-has-bids")
    await _return(session, market, listing, ListingStatus.CANCELLED)
    return listing


async def _return(
    session: AsyncSession, market: Market, listing: Listing, status: ListingStatus
) -> None:
    nft = await repo.nft(session, listing.nft_id)
    assert nft is not None
    assert nft.mint is not None
    await send(
        market,
        escrow.return_nft(
            market.address,
            Pubkey.from_string(nft.mint),
            Pubkey.from_string(listing.seller_address),
            f"atelier:return:{listing.id}",
        ),
        market.authority,
    )
    listing.status, listing.closed_at = status, now_utc()
    await listing_changed(session, listing)


# -- English auctions ---------------------------------------------------------------------


def least_next_bid(listing: Listing, leading: Bid | None) -> int:
    assert listing.reserve is not None
    if leading is None:
        return int(listing.reserve)
    raise_by = math.ceil(int(leading.amount) * int(listing.min_increment_bps or 0) / 10_000)
    return int(leading.amount) + max(raise_by, 1)


@dataclass(frozen=True)
class BidPlan:
    """A bid checked against the auction: the instructions that escrow it and refund the bid
    it beats (None on a first bid)."""

    listing: Listing
    leading: Bid | None
    instructions: list[Instruction]


async def plan_bid(
    session: AsyncSession,
    market: Market,
    listing_id: uuid.UUID,
    bidder: Pubkey,
    bid_id: uuid.UUID,
    amount: int,
) -> BidPlan:
    listing = await _active(session, listing_id)
    if listing.kind != ListingKind.ENGLISH:
        raise Conflict("only an English auction takes bids", slug="not-an-auction")
    if listing.ends_at is not None and now_utc() >= listing.ends_at:
        raise Conflict("this auction has ended", slug="auction-ended")
    if str(bidder) == listing.seller_address:
        raise Conflict("you are the seller", slug="own-listing")
    leading = await repo.leading_bid(session, listing.id, for_update=True)
    least = least_next_bid(listing, leading)
    if not least <= amount <= programs.MAX_LAMPORTS:
        what = "the reserve" if leading is None else "the leading bid plus the minimum increment"
        message = f"a bid here is at least {sol(least)} SOL ({least} lamports: {what})"
        raise InvalidInput(
            message,
            slug="bid-too-low",
            extra={"least": least, "errors": [{"loc": ["body", "amount"], "msg": message}]},
        )
    instructions = escrow.deposit_lamports(
        bidder, market.address, escrow.escrow_seed(bid_id), amount, f"atelier:bid:{bid_id}"
    )
    if leading is not None:
        instructions += escrow.refund(
            market.address,
            escrow.escrow_seed(leading.id),
            Pubkey.from_string(leading.bidder_address),
            int(leading.amount),
            f"atelier:refund:{leading.id}",
        )
    return BidPlan(listing, leading, instructions)


async def place_bid(session: AsyncSession, plan: BidPlan, placed: Bid, signature: str) -> Bid:
    """Record a bid whose escrow landed: it leads, the one it beat was refunded by the same
    transaction; the first bid starts the timer, a bid inside the last `extension_s` pushes
    the end to now + extension."""
    listing, leading, now = plan.listing, plan.leading, now_utc()
    if leading is not None:
        leading.status, leading.refund_signature = BidStatus.REFUNDED, signature
    assert listing.duration_s is not None
    assert listing.extension_s is not None
    if listing.ends_at is None:
        listing.ends_at = now + timedelta(seconds=listing.duration_s)
    elif listing.ends_at - now < timedelta(seconds=listing.extension_s):
        listing.ends_at = now + timedelta(seconds=listing.extension_s)
    listing.price = placed.amount
    placed.signature = signature
    await listing_changed(session, listing)
    return await rows.add(session, placed, refresh=True)


async def bid(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    listing_id: uuid.UUID,
    amount: int,
) -> Bid:
    """Escrow the bid and refund the one it beats, in one transaction."""
    market = await market_of(runtime)
    bidder = await signer_of(session, runtime.settings, principal.user_id)
    placed = Bid(
        id=uuid.uuid4(),
        listing_id=listing_id,
        bidder_id=principal.user_id,
        bidder_address=str(bidder.pubkey()),
        amount=amount,
    )
    plan = await plan_bid(session, market, listing_id, bidder.pubkey(), placed.id, amount)
    signature = await send(market, plan.instructions, bidder, market.authority)
    return await place_bid(session, plan, placed, signature)


async def settle(session: AsyncSession, runtime: Runtime, listing_id: uuid.UUID) -> Sale | None:
    """Close an auction whose time is up: the leading bid buys it, or the NFT goes back.
    Settling again answers the same sale (or nothing, if it ended unsold)."""
    market = await market_of(runtime)
    listing = await repo.listing(session, listing_id, for_update=True)
    if listing is None:
        raise NotFound("no such listing", slug="listing-not-found")
    if listing.status != ListingStatus.ACTIVE:
        return (
            next(iter(await repo.sales_of(session, nft_id=listing.nft_id, limit=1)), None)
            if listing.status == ListingStatus.SOLD
            else None
        )
    if listing.kind == ListingKind.FIXED or listing.ends_at is None or now_utc() < listing.ends_at:
        raise Conflict("this listing is not an auction whose time is up", slug="auction-running")
    leading = await repo.leading_bid(session, listing.id, for_update=True)
    if leading is None:
        await _return(session, market, listing, ListingStatus.ENDED)
        return None
    nft = await repo.nft(session, listing.nft_id, for_update=True)
    assert nft is not None
    assert nft.mint is not None
    split = await split_for(session, market, nft, int(leading.amount), listing.seller_address)
    signature = await send(
        market,
        escrow.settle_auction(
            market.address,
            escrow.escrow_seed(leading.id),
            Pubkey.from_string(nft.mint),
            Pubkey.from_string(leading.bidder_address),
            split,
            f"atelier:settle:{listing.id}",
        ),
        market.authority,
    )
    leading.status = BidStatus.WON
    listing.status, listing.closed_at = ListingStatus.SOLD, now_utc()
    return await record_sale(
        session,
        market,
        nft,
        split,
        kind=listing.kind,
        buyer=leading.bidder_address,
        seller=listing.seller_address,
        signature=signature,
        listing=listing,
    )


# -- offers -------------------------------------------------------------------------------


async def plan_offer(
    session: AsyncSession,
    market: Market,
    nft_id: uuid.UUID,
    principal: Principal | None,
    buyer: Pubkey,
    offer_id: uuid.UUID,
    amount: int,
) -> tuple[Nft, list[Instruction]]:
    nft, _ = await studios.nft_for(session, nft_id, principal)
    if nft.status != NftStatus.MINTED:
        raise Conflict("only a minted NFT takes offers", slug="not-minted")
    if nft.owner_address == str(buyer):
        raise Conflict("you hold this NFT", slug="own-nft")
    rent = await market.client.rent_exempt(0)
    if not rent <= amount <= programs.MAX_LAMPORTS:
        raise InvalidInput(
            f"an offer is between {rent} and {programs.MAX_LAMPORTS} lamports",
            slug="invalid-price",
        )
    seed = escrow.escrow_seed(offer_id)
    return nft, escrow.deposit_lamports(
        buyer, market.address, seed, amount, f"atelier:offer:{offer_id}"
    )


async def make_offer(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    nft_id: uuid.UUID,
    amount: int,
    expires_in_s: int,
) -> Offer:
    market = await market_of(runtime)
    buyer = await signer_of(session, runtime.settings, principal.user_id)
    offer_id = uuid.uuid4()
    nft, instructions = await plan_offer(
        session, market, nft_id, principal, buyer.pubkey(), offer_id, amount
    )
    signature = await send(market, instructions, buyer)
    return await rows.add(
        session,
        Offer(
            id=offer_id,
            nft_id=nft.id,
            buyer_id=principal.user_id,
            buyer_address=str(buyer.pubkey()),
            amount=amount,
            expires_at=now_utc() + timedelta(seconds=expires_in_s),
            signature=signature,
        ),
        refresh=True,
    )


async def _open_offer(session: AsyncSession, offer_id: uuid.UUID) -> Offer:
    offer = await repo.offer(session, offer_id, for_update=True)
    if offer is None:
        raise NotFound("no such offer", slug="offer-not-found")
    if offer.status != OfferStatus.OPEN:
        raise Conflict(f"this offer is {offer.status}", slug="offer-not-open")
    return offer


async def accept_offer(
    session: AsyncSession, runtime: Runtime, principal: Principal, offer_id: uuid.UUID
) -> Sale:
    market = await market_of(runtime)
    offer = await _open_offer(session, offer_id)
    if now_utc() >= offer.expires_at:
        raise Conflict("this offer has expired", slug="offer-expired")
    seller = await signer_of(session, runtime.settings, principal.user_id)
    nft = await _owned_nft(session, market, principal, offer.nft_id, seller)
    if await repo.active_listing(session, nft.id) is not None:
        raise Conflict("cancel the NFT's listing before accepting an offer", slug="nft-listed")
    split = await split_for(session, market, nft, int(offer.amount), str(seller.pubkey()))
    assert nft.mint is not None
    signature = await send(
        market,
        escrow.accept_offer(
            seller.pubkey(),
            market.address,
            escrow.escrow_seed(offer.id),
            Pubkey.from_string(nft.mint),
            Pubkey.from_string(offer.buyer_address),
            split,
            f"atelier:accept:{offer.id}",
        ),
        seller,
        market.authority,
    )
    offer.status = OfferStatus.ACCEPTED
    return await record_sale(
        session,
        market,
        nft,
        split,
        kind="offer",
        buyer=offer.buyer_address,
        seller=str(seller.pubkey()),
        signature=signature,
        offer=offer,
    )


async def close_offer(
    session: AsyncSession, runtime: Runtime, offer_id: uuid.UUID, principal: Principal | None
) -> Offer:
    """Refund an offer: its buyer cancels it (principal), or it expired (the sweep, None)."""
    market = await market_of(runtime)
    offer = await _open_offer(session, offer_id)
    if (
        principal is not None
        and offer.buyer_id != principal.user_id
        and not principal.has_role("admin")
    ):
        raise Forbidden("only the buyer cancels an offer", slug="not-your-offer")
    if principal is None and now_utc() < offer.expires_at:
        raise Conflict("this offer has not expired", slug="offer-open")
    offer.refund_signature = await send(
        market,
        escrow.refund(
            market.address,
            escrow.escrow_seed(offer.id),
            Pubkey.from_string(offer.buyer_address),
            int(offer.amount),
            f"atelier:refund:{offer.id}",
        ),
        market.authority,
    )
    offer.status = OfferStatus.CANCELLED if principal is not None else OfferStatus.EXPIRED
    return offer


# -- the development faucet and wallets --------------------------------------------------


async def market_wallet(
    session: AsyncSession, runtime: Runtime, principal: Principal
) -> tuple[str, bool, int]:
    """The caller's Solana wallet for the market (one the platform holds is made if they have
    none), its balance; on the embedded runtime a fresh wallet gets the faucet's lamports
    (address, held, balance)."""
    market = await market_of(runtime)
    wallet = await wallets.solana_wallet(session, runtime.settings, principal.user_id)
    if wallet is None:
        created = await wallets.create_custodial_wallet(
            session, runtime.settings, principal.user_id, "solana", "market wallet"
        )
        wallet = wallets.SolanaWallet(created.address, b"")
        airdrop = getattr(market.client, "airdrop", None)
        if airdrop is not None and runtime.settings.market_faucet_lamports:
            await airdrop(
                Pubkey.from_string(created.address), runtime.settings.market_faucet_lamports
            )
    balance = await market.client.balance(Pubkey.from_string(wallet.address))
    return wallet.address, wallet.secret is not None, balance
