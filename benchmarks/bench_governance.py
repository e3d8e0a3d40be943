"""Governance benchmarks.

1. Vote ingestion (EIP-712 verify + store) for distinct wallets on one one-wallet-one-vote
   proposal, N concurrent tasks: (a) `service.cast_vote` in this process (verify + store);
   (b) `POST /api/vote` over TCP to a real `atelier serve governance` process, driven by
   aiohttp. Signatures are made beforehand with eth-account, outside the timed section.
   Relaying and rate limits are off.
2. Tally of 1,000,000 stored votes on one proposal (`service.tally`, warm).
3. Gas per on-chain vote (`voteOnUpgrade`) and per relayed vote (`voteBySig`) on the
   eth-tester chain, by reason length, first vote on a side vs a later one.

    python -m benchmarks.bench_governance [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import httpx
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import EthereumTesterProvider, Web3
from web3.types import TxReceipt

from atelier.chain.evm.client import chain_for
from atelier.chain.evm.contracts import deploy, token_contract, voting_contract
from atelier.core.config import Settings
from atelier.core.logging import configure_logging
from atelier.core.runtime import Runtime
from atelier.core.startup import close_runtime, open_runtime
from atelier.core.transactions import autocommit, unit_of_work
from atelier.governance import ballots, service
from atelier.governance.models import Proposal
from atelier.server.modules import task_blueprints
from benchmarks.common import (
    Row,
    embedded_database,
    free_port,
    start_server,
    summary_ms,
    write_results,
)

T = TypeVar("T")
INGEST_TARGET = 1500.0  # votes/s on 2 cores
TALLY_TARGET_MS = 1000.0
WARMUP = 200
UNIT = 10**18
REASONS = (0, 100, 5000)  # bytes
SIGNED_AT = 1_700_000_000  # the contract does not check the signed timestamp


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --- 1. ingestion --------------------------------------------------------------------------


async def new_proposal(runtime: Runtime, title: str) -> Proposal:
    async with runtime.sessions() as session, session.begin():
        return await service.create_proposal(
            session,
            runtime.settings,
            await chain_for(runtime),
            service.ProposalSpec(title=title, ends_at=service.now_utc() + timedelta(hours=1)),
        )


def signed_votes(
    domain: ballots.Domain, proposal: Proposal, count: int
) -> list[service.VoteRequest]:
    """`count` approve votes by distinct wallets, signed as a wallet would (eth-account)."""
    timestamp = int(time.time())
    requests = []
    for i in range(count):
        key = keccak(text=f"bench-governance:{proposal.id}:{i}")
        address = Account.from_key(key).address
        typed = ballots.typed_data(
            domain, ballots.Ballot(proposal.chain_key, address, "approve", "", timestamp)
        )
        signature = bytes(Account.sign_typed_data(key, full_message=typed).signature)
        requests.append(
            service.VoteRequest(address, "approve", "", timestamp, "0x" + signature.hex())
        )
    return requests


async def closed_loop(
    items: Iterable[T], concurrency: int, cast: Callable[[T], Awaitable[None]]
) -> tuple[list[float], float, float]:
    """`concurrency` tasks taking the next item as soon as their last one is done; the
    latencies, the elapsed time and this process's CPU time."""
    pending = iter(items)
    latencies: list[float] = []

    async def worker() -> None:
        for item in pending:  # one shared iterator: each item is cast once
            started = time.perf_counter()
            await cast(item)
            latencies.append(time.perf_counter() - started)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, time.process_time() - cpu


async def stored_votes(runtime: Runtime, proposal: Proposal) -> int:
    async with runtime.sessions() as session:
        result = await service.tally(session, proposal)
    return sum(result.voters.values())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every `postgres` process on the machine (the embedded server's backends,
    WAL writer, checkpointer...: the benchmark's own cluster is the only one running)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:  # the process ended meanwhile
                pass
    return total


@dataclass
class Ingestion:
    latencies: list[float]
    elapsed: float
    cpu_s: dict[str, float]  # who spent it: this process, the server, PostgreSQL


async def measured(
    items: list[T],
    concurrency: int,
    cast: Callable[[T], Awaitable[None]],
    server_pid: int | None = None,
) -> Ingestion:
    await closed_loop(items[:WARMUP], concurrency, cast)
    postgres = postgres_cpu_seconds()
    server = cpu_seconds(server_pid) if server_pid else 0.0
    latencies, elapsed, own = await closed_loop(items[WARMUP:], concurrency, cast)
    cpu = {"this process": own, "PostgreSQL": postgres_cpu_seconds() - postgres}
    if server_pid:
        cpu["server process"] = cpu_seconds(server_pid) - server
    return Ingestion(latencies, elapsed, cpu)


async def ingest_service(
    runtime: Runtime, domain: ballots.Domain, votes: int, concurrency: int
) -> Ingestion:
    proposal = await new_proposal(runtime, "bench: service path")
    requests = signed_votes(domain, proposal, WARMUP + votes)  # wallet-side work, not timed
    chain = await chain_for(runtime)

    async def cast(request: service.VoteRequest) -> None:
        async with autocommit(runtime) as conn, unit_of_work(runtime) as session:
            terms = await service.terms_of(runtime.adapters, conn, proposal.id)
            _, created = await service.cast_vote(
                session, conn, runtime.settings, chain, terms, request, None
            )
        assert created

    result = await measured(requests, concurrency, cast)
    assert await stored_votes(runtime, proposal) == WARMUP + votes
    return result


async def ingest_server(runtime: Runtime, url: str, votes: int, concurrency: int) -> Ingestion:
    """POST /api/vote over TCP to a real `atelier serve governance` process (one uvicorn
    process). The load generator is aiohttp with bodies serialised beforehand: it shares the
    machine with the server and PostgreSQL, and httpx would cost it several times the CPU."""
    import aiohttp

    port = free_port()
    server = start_server(
        "governance",
        url,
        runtime.settings.home / "server",
        port,
        ATELIER_CHAIN_RELAY="false",
        ATELIER_RATE_LIMIT_ENABLED="false",
    )
    try:
        base = f"http://localhost:{port}"
        info = httpx.get(f"{base}/api/chain", timeout=30).json()
        domain = ballots.Domain(info["chain_id"], info["voting"])  # the server's own chain
        proposal = await new_proposal(runtime, "bench: HTTP server")
        bodies = [
            json.dumps(
                {
                    "proposal_id": str(proposal.id),
                    "wallet": r.wallet,
                    "vote": r.choice,
                    "reason": r.reason,
                    "timestamp": r.timestamp,
                    "signature": r.signature,
                }
            ).encode()
            for r in signed_votes(domain, proposal, WARMUP + votes)
        ]
        headers = {"Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(base, connector=connector) as http:

            async def cast(body: bytes) -> None:
                async with http.post("/api/vote", data=body, headers=headers) as response:
                    assert response.status == 201, await response.text()
                    await response.read()

            result = await measured(bodies, concurrency, cast, server.pid)
    finally:
        server.terminate()
        server.wait(30)
    assert await stored_votes(runtime, proposal) == WARMUP + votes
    return result


def ingest_rows(
    label: str, what: str, run: Ingestion, concurrency: int, *, targeted: bool = True
) -> list[Row]:
    """`targeted`: the issue's target (verify + store) applies to this measurement; the HTTP
    measurement is reported beside it with where its CPU goes."""
    count = len(run.latencies)
    rate = count / run.elapsed
    stats = summary_ms(run.latencies)
    spent = ", ".join(
        f"{who} {seconds / count * 1000:.2f} ms ({seconds / run.elapsed:.0%} of a core)"
        for who, seconds in run.cpu_s.items()
    )
    return [
        Row(
            f"vote ingestion, {label}",
            rate,
            "votes/s",
            f">= {INGEST_TARGET:,.0f} votes/s" if targeted else "",
            (f"{met(rate >= INGEST_TARGET)}; " if targeted else "")
            + f"{count} votes by distinct wallets, "
            f"{concurrency} concurrent tasks, {run.elapsed:.2f} s; {what}; CPU per vote: {spent}",
        ),
        Row(f"vote ingestion, {label}, p50", stats["p50"], "ms", "", f"{concurrency} in flight"),
        Row(f"vote ingestion, {label}, p99", stats["p99"], "ms"),
    ]


# --- 2. tally ------------------------------------------------------------------------------


async def bench_tally(runtime: Runtime, count: int, runs: int) -> list[Row]:
    proposal = await new_proposal(runtime, "bench: tally")
    started = time.perf_counter()
    async with runtime.hot.connection() as conn:
        await conn.execute(
            "INSERT INTO votes (id, proposal_id, voter, choice, reason, signed_timestamp,"
            " signature, power, source, relay_status)"
            " SELECT gen_random_uuid(), %(p)s, '0x' || lpad(to_hex(g), 40, '0'),"
            " CASE WHEN g %% 2 = 0 THEN 'approve' ELSE 'reject' END, '', 1700000000,"
            " '0x' || repeat('ab', 65), 1 + (g::bigint * 7919) %% 1000, 'offchain', 'off'"
            " FROM generate_series(1, %(n)s) AS g",
            {"p": proposal.id, "n": count},
        )
        await conn.execute("VACUUM ANALYZE votes")
        plan = await (
            await conn.execute(
                "EXPLAIN SELECT choice, sum(power), count(*) FROM votes WHERE proposal_id = %(p)s"
                " GROUP BY choice",
                {"p": proposal.id},
            )
        ).fetchall()
    loaded_s = time.perf_counter() - started
    scan = next((line for (line,) in plan if "Scan" in line), "?").strip(" ->").split("  ")[0]
    samples = []
    async with runtime.sessions() as session:
        await session.connection()  # a pooled connection held: the query alone is timed
        for i in range(runs + 1):
            started = time.perf_counter()
            result = await service.tally(session, proposal)
            if i > 0:  # the first run warms the cache and is not counted
                samples.append(time.perf_counter() - started)
    assert sum(result.voters.values()) == count
    median_ms = statistics.median(samples) * 1000
    return [
        Row(
            f"tally of {count:,} stored votes, median",
            median_ms,
            "ms",
            f"< {TALLY_TARGET_MS:,.0f} ms",
            f"{met(median_ms < TALLY_TARGET_MS)}; warm, median of {runs}; service.tally "
            f"(SUM/COUNT GROUP BY choice + decide); plan: {scan}; "
            f"rows inserted + VACUUM ANALYZE in {loaded_s:.1f} s",
        ),
        Row(
            f"tally of {count:,} stored votes, max",
            max(samples) * 1000,
            "ms",
            "",
            f"slowest of {runs} warm runs",
        ),
    ]


# --- 3. gas --------------------------------------------------------------------------------


def transact(w3: Web3, fn: Any, sender: ChecksumAddress) -> TxReceipt:
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


def calldata_floor(w3: Web3, receipt: TxReceipt) -> int:
    """EIP-7623 (Prague): a transaction pays at least 21000 + 10 gas per calldata token
    (a zero byte is 1 token, any other byte 4)."""
    data = bytes(w3.eth.get_transaction(receipt["transactionHash"])["input"])
    zeros = data.count(0)
    return 21_000 + 10 * (zeros + 4 * (len(data) - zeros))


def bench_gas() -> tuple[list[Row], dict[str, int]]:
    """Each (weighting, reason, kind) gets its own proposal; on it a first approve vote
    (the side's tally slots go from zero) and a second, later one by another wallet."""
    w3 = Web3(EthereumTesterProvider())
    accounts = list(w3.eth.accounts)
    owner, relayer = accounts[0], accounts[6]
    deployment = deploy(w3, owner, initial_supply=1_000_000 * UNIT, voting_period_s=3600)
    token = token_contract(w3, deployment.token)
    voting = voting_contract(w3, deployment.voting)
    domain = ballots.Domain(deployment.chain_id, deployment.voting)
    direct = accounts[1:3]
    signers = [Account.from_key(keccak(text=f"bench-gas:{i}")) for i in range(2)]
    for holder in [*direct, *(s.address for s in signers)]:
        transact(w3, token.functions.transfer(holder, UNIT), owner)
    rows: list[Row] = []
    first_weighted: dict[str, int] = {}
    for weighted in (True, False):
        weighting = "erc20-weighted" if weighted else "one-wallet-one-vote"
        for size in REASONS:
            reason = "r" * size
            for kind in ("voteOnUpgrade", "voteBySig"):
                job = keccak(text=f"gas:{weighted}:{size}:{kind}")
                if weighted:  # as `createProposal`: snapshot = the block before
                    transact(w3, voting.functions.createProposal(job), owner)
                else:  # as the relayer mirrors a one-wallet-one-vote proposal
                    now = w3.eth.get_block("latest")["timestamp"]
                    transact(
                        w3,
                        voting.functions.createProposalWithWindow(
                            job, w3.eth.block_number - 1, now + 3600, False, 0
                        ),
                        owner,
                    )
                receipts = []
                for n in range(2):
                    if kind == "voteOnUpgrade":
                        call = voting.functions.voteOnUpgrade(job, True, reason)
                        receipts.append(transact(w3, call, direct[n]))
                    else:
                        signer = signers[n]
                        typed = ballots.typed_data(
                            domain,
                            ballots.Ballot(job, signer.address, "approve", reason, SIGNED_AT),
                        )
                        signature = bytes(signer.sign_typed_data(full_message=typed).signature)
                        call = voting.functions.voteBySig(
                            job, signer.address, "approve", reason, SIGNED_AT, signature
                        )
                        receipts.append(transact(w3, call, relayer))
                if weighted:
                    first_weighted[f"{kind}:{size}"] = int(receipts[0]["gasUsed"])
                labels = ("first vote on its side", "later vote on that side")
                for receipt, label in zip(receipts, labels, strict=True):
                    used, floor = int(receipt["gasUsed"]), calldata_floor(w3, receipt)
                    note = (
                        "signer's EIP-712 signature checked on chain; the relayer pays"
                        if kind == "voteBySig"
                        else "the voter sends and pays"
                    )
                    if used == floor:
                        note += "; = the EIP-7623 calldata floor (execution costs less)"
                    rows.append(
                        Row(
                            f"gas {kind}, {weighting}, reason {size} B, {label}",
                            used,
                            "gas",
                            "",
                            note,
                        )
                    )
    return rows, first_weighted


def gas_cross_check(first_weighted: dict[str, int]) -> str:
    """Compare with tests/chain/test_contracts.py::measure_vote_gas (first votes on an
    erc20-weighted proposal) when that module imports cleanly."""
    try:
        from tests.chain.test_contracts import measure_vote_gas
    except Exception as exc:  # pytest or the tests package missing
        return f"measure_vote_gas not importable ({type(exc).__name__})"
    gaps = [
        abs(measure_vote_gas("r" * size)[kind] - first_weighted[f"{kind}:{size}"])
        for size in REASONS
        for kind in ("voteOnUpgrade", "voteBySig")
    ]
    # another signature has other zero bytes in its calldata: 12 gas each (16 vs 4)
    if all(gap % 12 == 0 and gap <= 60 for gap in gaps):
        return (
            "first votes agree with tests/chain/test_contracts.py::measure_vote_gas "
            f"(within {max(gaps)} gas: zero bytes of other signatures)"
        )
    return f"first votes differ from measure_vote_gas by {gaps} gas"


# --- main ----------------------------------------------------------------------------------


async def bench_database(
    url: str, home: Path, votes: int, concurrency: int, tally_rows: int
) -> tuple[list[Row], dict[str, Any]]:
    settings = Settings(
        _env_file=None,
        home=home,
        database_url=url,
        chain_relay=False,  # type: ignore[call-arg]
        rate_limit_enabled=False,
    )
    runtime = await open_runtime(settings, url, blueprints=task_blueprints())
    try:
        chain = await chain_for(runtime)  # the embedded eth-tester chain, deployed once
        domain = service.vote_domain(chain)
        rows = ingest_rows(
            "service.cast_vote (verify + store)",
            "per vote: the proposal's terms (cached per "
            "process), checks, EIP-712 digest + secp256k1 recovery (coincurve), power (1, no "
            "lookup), one prepared INSERT ... ON CONFLICT DO NOTHING RETURNING, autocommit",
            await ingest_service(runtime, domain, votes, concurrency),
            concurrency,
        )
        rows += ingest_rows(
            "POST /api/vote, atelier serve governance over TCP",
            "per vote: HTTP/1.1 keep-alive "
            "to one uvicorn process, FastAPI + pydantic in and out, the service path; the load "
            "generator (this process), the server and PostgreSQL share the machine's cores",
            await ingest_server(runtime, url, votes, concurrency),
            concurrency,
            targeted=False,
        )
        rows += await bench_tally(runtime, tally_rows, 5)
        async with runtime.hot.connection() as conn:
            pg = (await (await conn.execute("SHOW server_version")).fetchone() or ["?"])[0]
            sync = (await (await conn.execute("SHOW synchronous_commit")).fetchone() or ["?"])[0]
    finally:
        await close_runtime(runtime)
    return rows, {"postgres": f"{pg} (embedded, same machine, synchronous_commit {sync})"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    configure_logging("warning")  # as bench_grid's server: no line per request
    votes = 1000 if args.quick else 5000
    concurrency = 16
    server, url = embedded_database("bench_governance")
    try:
        rows, context = asyncio.run(
            bench_database(
                url,
                Path(tempfile.mkdtemp()),
                votes,
                concurrency,
                100_000 if args.quick else 1_000_000,
            )
        )
    finally:
        server.cleanup()
    gas_rows, first_weighted = bench_gas()
    rows += gas_rows
    path = write_results(
        "governance",
        rows,
        {
            "cores": os.cpu_count() or 0,
            "cpu": cpu_model(),
            "postgres": context["postgres"],
            "secp256k1": f"coincurve {version('coincurve')}",
            "log level": "warning",
            "chain": "eth-tester (py-evm), in process",
            "gas check": gas_cross_check(first_weighted),
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
