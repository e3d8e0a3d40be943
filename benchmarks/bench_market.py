"""The market: settlement on LiteSVM, listing search over 100,000 NFTs, and what a mint costs.

- **Settlement.** N NFTs minted and escrowed on the embedded runtime (chain/solana), then
  each sold by the market's own purchase transaction (market/escrow.py: the buyer's payouts
  to the reserve, two creators and the seller, and the NFT out of escrow, in one
  transaction): built, signed by buyer and market, sent, confirmed and journaled. Sales per
  second, and the p50/p99 of one sale.
- **Search.** 100,000 minted NFTs in 100 collections, 100,000 active listings of the three
  kinds in PostgreSQL; `market.repository.search_listings` (what GET /api/market/listings
  runs) for a collection's cheapest, a price band, a kind, and a deep keyset page. Target:
  p99 < 20 ms.
- **Cost of a mint**, in lamports: what `programs.mint_nft_instructions` costs (the mint
  account's and the holder's token account's rent, two signatures), the Token Metadata
  account's rent on top, beside Metaplex's published protocol fee for a Token Metadata
  create (0.01 SOL, developers.metaplex.com/protocol-fees) and for Core (0.0015 SOL) and
  Bubblegum v2 (0.00009 SOL) creates. Rent is the runtime's own answer.

    python -m benchmarks.bench_market [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from solders.keypair import Keypair
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from atelier.chain.solana import metaplex, programs
from atelier.chain.solana.client import send_fresh
from atelier.chain.solana.embedded import EmbeddedSolana
from atelier.core.config import Settings
from atelier.core.db import sqlalchemy_url
from atelier.market import escrow
from atelier.market import repository as repo
from atelier.market.settlement import split_sale
from atelier.market.trading import build
from benchmarks.common import Row, embedded_database, summary_ms, write_results

SOL = programs.LAMPORTS_PER_SOL
FEE_PER_SIGNATURE = 5000


async def bench_settlement(sales: int) -> list[Row]:
    home = Path(tempfile.mkdtemp())
    solana = EmbeddedSolana(Settings(_env_file=None, home=home))  # type: ignore[call-arg]
    market, seller, reserve = Keypair(), Keypair(), Keypair()
    creators = [Keypair(), Keypair()]
    for account in (market, seller, reserve, *creators):
        await solana.airdrop(account.pubkey(), 1_000 * SOL)
    mint_rent = await solana.rent_exempt(programs.MINT_SIZE)
    mints = []
    for _ in range(sales):
        mint = Keypair()
        listing = programs.mint_nft_instructions(
            seller.pubkey(), mint.pubkey(), seller.pubkey(), mint_rent
        ) + escrow.deposit_nft(seller.pubkey(), market.pubkey(), mint.pubkey(), "bench:list")
        await send_fresh(
            solana, lambda h, i=listing, m=mint: build(i, seller.pubkey(), [seller, m], h)
        )
        mints.append(mint.pubkey())
    buyers = [Keypair() for _ in range(sales)]
    for buyer in buyers:
        await solana.airdrop(buyer.pubkey(), 10 * SOL)
    samples = []
    started = time.perf_counter()
    for mint, buyer in zip(mints, buyers, strict=True):
        begun = time.perf_counter()
        split = split_sale(
            SOL + 7,
            seller=str(seller.pubkey()),
            reserve=str(reserve.pubkey()),
            fee_bps=250,
            royalty_bps=500,
            creators=[(str(c.pubkey()), s) for c, s in zip(creators, (70, 30), strict=True)],
            primary=False,
        )
        instructions = escrow.purchase(buyer.pubkey(), market.pubkey(), mint, split, "bench:buy")
        await send_fresh(
            solana, lambda h, i=instructions, b=buyer: build(i, b.pubkey(), [b, market], h)
        )
        samples.append(time.perf_counter() - begun)
    elapsed = time.perf_counter() - started
    solana.close()
    one = summary_ms(samples)
    return [
        Row(
            "settlement throughput (LiteSVM, journaled)",
            sales / elapsed,
            "sales/s",
            note=f"{sales} sales, 5 payouts + NFT each",
        ),
        Row("one sale p50", one["p50"], "ms"),
        Row("one sale p99", one["p99"], "ms"),
    ]


SEED = """
INSERT INTO users (id, email, roles) VALUES (:user, 'bench@example.org', '{creator}');
INSERT INTO market_studios (id, name, slug, created_by) VALUES (:studio, 'Bench', 'bench', :user);
INSERT INTO market_collections (id, studio_id, name, symbol, seller_fee_basis_points, creators,
    published, created_by)
  SELECT gen_random_uuid(), :studio, 'C' || n, 'C', 500, '[]'::jsonb, true, :user
  FROM generate_series(1, 100) n;
INSERT INTO grid_requests (id, user_id, kind, params, estimate_s, source, queue_key, max_attempts, state)
  SELECT gen_random_uuid(), :user, 'image', '{}'::jsonb, 1, 'api', n, 3, 'done'
  FROM generate_series(1, :count) n;
INSERT INTO artifacts (id, request_id, sha256, storage_key, mime, format, size_bytes)
  SELECT gen_random_uuid(), id, md5(id::text), 'k', 'image/png', 'png', 1 FROM grid_requests;
INSERT INTO market_nfts (id, collection_id, artifact_id, name, attributes, status, mint,
    owner_address, created_by, minted_at)
  SELECT gen_random_uuid(), c.id, a.id, 'N', '[]'::jsonb, 'minted', md5(a.id::text),
    'owner', :user, now()
  FROM (SELECT id, row_number() OVER () AS r FROM artifacts) a
  JOIN (SELECT id, row_number() OVER () AS r FROM market_collections) c ON c.r = 1 + a.r % 100;
INSERT INTO market_listings (id, nft_id, collection_id, kind, seller_id, seller_address, price)
  SELECT gen_random_uuid(), id, collection_id,
    (ARRAY['fixed', 'english', 'dutch'])[1 + (abs(hashtext(id::text)) % 3)], :user, 'seller',
    1000000 + abs(hashtext(id::text || 'p')) % 100000000000
  FROM market_nfts;
ANALYZE;
"""


async def bench_search(count: int, runs: int) -> list[Row]:
    server, url = embedded_database("bench_market")
    engine = create_async_engine(sqlalchemy_url(url))
    user, studio = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as connection:
        for statement in filter(str.strip, SEED.split(";")):
            await connection.execute(
                text(statement), {"user": user, "studio": studio, "count": count}
            )
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        collections = list(
            (await session.execute(text("SELECT id FROM market_collections"))).scalars()
        )
        deep = (
            await session.execute(
                text("SELECT price, id FROM market_listings ORDER BY price, id OFFSET :o LIMIT 1"),
                {"o": count // 2},
            )
        ).one()
    queries = {
        "a collection's cheapest 50": lambda s, n: repo.search_listings(
            s,
            collection_id=collections[n % len(collections)],
            kind=None,
            min_price=None,
            max_price=None,
            limit=50,
            after_price=None,
            after_id=None,
        ),
        "a price band, 50": lambda s, n: repo.search_listings(
            s,
            collection_id=None,
            kind=None,
            min_price=10**9 + n * 10**6,
            max_price=2 * 10**9,
            limit=50,
            after_price=None,
            after_id=None,
        ),
        "auctions only, 50": lambda s, n: repo.search_listings(
            s,
            collection_id=None,
            kind="english",
            min_price=None,
            max_price=None,
            limit=50,
            after_price=None,
            after_id=None,
        ),
        "a keyset page halfway down": lambda s, n: repo.search_listings(
            s,
            collection_id=None,
            kind=None,
            min_price=None,
            max_price=None,
            limit=50,
            after_price=int(deep[0]),
            after_id=deep[1],
        ),
    }
    rows = []
    for name, query in queries.items():
        samples = []
        async with sessions() as session:
            for n in range(runs):
                begun = time.perf_counter()
                found = await query(session, n)
                samples.append(time.perf_counter() - begun)
                assert found, name
        timing = summary_ms(samples)
        rows.append(
            Row(
                f"search: {name} p99",
                timing["p99"],
                "ms",
                "< 20 ms",
                f"p50 {timing['p50']:.2f} ms, {count} listings",
            )
        )
    await engine.dispose()
    server.cleanup()
    return rows


async def bench_mint_cost() -> list[Row]:
    solana = EmbeddedSolana(Settings(_env_file=None, home=Path(tempfile.mkdtemp())))  # type: ignore[call-arg]
    mint = await solana.rent_exempt(programs.MINT_SIZE)
    holder = await solana.rent_exempt(programs.TOKEN_ACCOUNT_SIZE)
    metadata = await solana.rent_exempt(metaplex.MAX_METADATA_LEN)
    solana.close()
    fees = 2 * FEE_PER_SIGNATURE  # the payer and the new mint sign
    plain = mint + holder + fees
    return [
        Row(
            "mint: plain SPL NFT (rent + fees)",
            plain,
            "lamports",
            note=f"{plain / SOL:.6f} SOL; mint {mint} + token account {holder} + 2 signatures",
        ),
        Row(
            "mint: with Token Metadata account rent",
            plain + metadata,
            "lamports",
            note=f"{(plain + metadata) / SOL:.6f} SOL; metadata account (679 bytes) {metadata}",
        ),
        Row(
            "Metaplex: Token Metadata create protocol fee (published)",
            0.01 * SOL,
            "lamports",
            note="0.01 SOL on top, on a cluster; developers.metaplex.com/protocol-fees",
        ),
        Row(
            "Metaplex: Core create fee (published)", 0.0015 * SOL, "lamports", note="for comparison"
        ),
        Row(
            "Metaplex: Bubblegum v2 create fee (published)",
            0.00009 * SOL,
            "lamports",
            note="compressed NFTs (our builders are untested on chain)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(bench_settlement(50 if args.quick else 500))
    rows += asyncio.run(bench_search(10_000 if args.quick else 100_000, 50 if args.quick else 300))
    rows += asyncio.run(bench_mint_cost())
    path = write_results("market", rows, {"cores": os.cpu_count() or 0})
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
