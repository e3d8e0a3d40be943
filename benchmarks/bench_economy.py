"""The economy's costs: closing a big month, and ingesting donation webhooks.

1. Distribution: a month with 10,000 workers and 1,000,000 contribution records (one
   accepted job each), closed with `distribution.distribute` in one unit of work (the plan,
   the split, ~10,000 postings, shares and payouts, the digest, the commit). Checked exact:
   the shares CSV sums to the workers' part, and the parts to the pool.
2. Webhook ingestion: signed Stripe events posted to a real `atelier serve grid` by 16
   concurrent clients (verify the signature on the raw bytes, store the event once, post
   the donation), in events/s with latency percentiles; then the same events again (all
   duplicates).

    python -m benchmarks.bench_economy [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from atelier.core.config import Settings
from atelier.core.startup import close_runtime, open_runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import distribution, money, transparency
from atelier.economy.money import Leg, Movement
from atelier.economy.signatures import stripe_signature
from benchmarks.common import (
    Row,
    embedded_database,
    free_port,
    start_server,
    summary_ms,
    write_results,
)

MONTH = date(2026, 10, 1)
SECRET = "whsec_bench_" + "0" * 24

SEED = """
INSERT INTO economy_workers (worker_id, name, owner_id, first_seen_at, canaries_passed)
SELECT md5('w' || i)::uuid, 'rig-' || i, md5('o' || (i % 4000))::uuid,
       '2026-01-01T00:00:00Z', 5
FROM generate_series(1, :workers) AS i;
INSERT INTO economy_contributions (artifact_id, worker_id, kind, units, month, accepted_at)
SELECT gen_random_uuid(), md5('w' || (1 + i % :workers))::uuid, 'image',
       1000 + (i::bigint * 7919) % 9000, '2026-10-01', '2026-10-15T12:00:00Z'
FROM generate_series(1, :records) AS i;
"""


async def bench_distribution(workers: int, records: int) -> list[Row]:
    server, url = embedded_database("bench_economy")
    home = Path(tempfile.mkdtemp())
    settings = Settings(_env_file=None, home=home, database_url=url)  # type: ignore[call-arg]
    runtime = await open_runtime(settings, url)
    try:
        async with unit_of_work(runtime) as session:
            for statement in SEED.strip().split(";\n"):
                await session.execute(text(statement), {"workers": workers, "records": records})
            await money.record(
                session,
                Movement(
                    "bench donations",
                    [
                        Leg("Assets:Clearing:Stripe", 123_456_789, "USD"),
                        Leg("Income:Donations:Stripe", -123_456_789, "USD"),
                    ],
                    occurred_at=datetime(2026, 10, 3, tzinfo=UTC),
                    source="stripe:pi_bench",
                ),
            )
        async with runtime.sessions() as session:
            await session.execute(text("ANALYZE"))
        dry = []
        for _ in range(3):
            started = time.perf_counter()
            async with unit_of_work(runtime) as session:
                await distribution.distribute(session, settings, MONTH, dry_run=True)
            dry.append(time.perf_counter() - started)
        started = time.perf_counter()
        async with unit_of_work(runtime) as session:
            closed = await distribution.distribute(session, settings, MONTH)
        close_s = time.perf_counter() - started
        async with unit_of_work(runtime) as session:
            report = await transparency.month_report(session, settings, MONTH)
        pool = report.plan.currencies[0]
        shares = sum(
            int(r["amount_minor"])
            for r in csv.DictReader(io.StringIO(transparency.shares_csv(report)))
        )
        exact = (
            shares == pool.workers
            and pool.workers + pool.infrastructure + pool.development == pool.pool
        )
        if not exact or closed.contributors != workers:
            raise AssertionError(f"not exact: shares {shares}, parts {pool}")
    finally:
        await close_runtime(runtime)
        server.cleanup()
    note = f"{workers:,} workers, {records:,} contribution records; shares CSV sums to the workers' part: {exact}"
    return [
        Row(
            "close a month (plan, post, shares, payouts, digest, commit)",
            close_s,
            "s",
            "< 2 s",
            note,
        ),
        Row("dry run of the same month (plan only)", min(dry), "s", "", "best of 3"),
    ]


def _event(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_bench_{n}",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": f"pi_bench_{n}",
                    "amount_received": 500 + n % 97,
                    "currency": "usd",
                }
            },
        }
    ).encode()


async def _post_all(base: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = list(bodies)

    async def client_loop(http: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            t = int(time.time())
            started = time.perf_counter()
            answer = await http.post(
                f"{base}/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": f"t={t},v1={stripe_signature(SECRET, t, body)}"},
            )
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise AssertionError(answer.text)

    async with httpx.AsyncClient(timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(http) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


async def bench_webhooks(events: int) -> list[Row]:
    server, url = embedded_database("bench_webhooks")
    home, port = Path(tempfile.mkdtemp()), free_port()
    process = start_server("grid", url, home, port, ATELIER_STRIPE_WEBHOOK_SECRET=SECRET)
    try:
        base = f"http://localhost:{port}"
        bodies = [_event(n) for n in range(events)]
        await _post_all(base, bodies[:50], 4)  # warm up (these 50 are then duplicates)
        elapsed, latencies = await _post_all(base, bodies, 16)
        again, dup_latencies = await _post_all(base, bodies, 16)
    finally:
        process.terminate()
        process.wait(30)
        server.cleanup()
    first, repeat = summary_ms(latencies), summary_ms(dup_latencies)
    note = f"{events:,} signed payment_intent.succeeded events, 16 concurrent clients, one server process"
    return [
        Row("webhook ingestion (verify, store once, post)", events / elapsed, "events/s", "", note),
        Row("webhook ingestion latency p50", first["p50"], "ms", "", note),
        Row("webhook ingestion latency p99", first["p99"], "ms", "", note),
        Row(
            "redelivered events (all duplicates)",
            events / again,
            "events/s",
            "",
            "the same events again",
        ),
        Row("redelivered events latency p99", repeat["p99"], "ms", "", "the same events again"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    workers, records, events = (1_000, 100_000, 500) if args.quick else (10_000, 1_000_000, 3_000)
    rows = asyncio.run(bench_distribution(workers, records))
    rows += asyncio.run(bench_webhooks(events))
    context = {"cores": os.cpu_count() or 0, "postgres": "embedded, same machine"}
    path = write_results("economy", rows, context)
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
