"""Issue 17's three measures, against a real `atelier serve grid` process:

- fan-out: 1,000 WebSocket clients, held by four receiving processes, follow a public topic;
  events are committed by another process (this one) and the time from each commit (its
  acknowledgement; also from the transaction's start, fsync included) to each client's
  receipt is measured on the machine's one monotonic clock (target: p99 < 100 ms on this
  machine);
- rules: how many events per second the automation matcher decides with 1,000 active rules
  on the event's topic (each event reaches the rules of its owner: scoping and conditions);
- Farcaster: how fast the indexer catches up with a hub's event stream (the server's
  stand-in hub, fed signed casts), every message's BLAKE3 hash and ed25519 signature
  checked; and the bare verification rate beside it.

    python -m benchmarks.bench_realtime [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atelier.automation import service as automation
from atelier.automation.models import Rule
from atelier.core import events
from atelier.core.config import Settings
from atelier.core.events import Event
from atelier.core.startup import close_runtime, open_runtime
from atelier.core.transactions import unit_of_work
from atelier.grid.events import JobChanged
from atelier.identity.models import User
from atelier.social import farcaster, scheduled
from atelier.social import repository as social_repo
from atelier.social.hub import HubClient
from benchmarks.common import (
    Row,
    embedded_database,
    free_port,
    percentile,
    start_server,
    write_results,
)

FID = 4242


class BenchPing(Event, topic="bench.ping"):
    seq: int

    def audience(self) -> tuple[str, ...]:
        return ("public",)


RECEIVERS = 4  # processes holding the clients' sockets, apart from the committing one


def now() -> float:
    """CLOCK_MONOTONIC: one clock for every process on the machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def receive(url: str, clients: int, pings: int) -> None:
    """A receiving process: `clients` sockets on the topic; says `ready` once all are
    connected, then prints each socket's receipt times per ping as JSON and exits."""
    sockets = []
    for start in range(0, clients, 50):
        batch = [websockets.connect(url, open_timeout=60) for _ in range(min(50, clients - start))]
        sockets += await asyncio.gather(*batch)
    received: dict[int, list[float]] = {}

    async def listen(ws: Any) -> None:
        async for raw in ws:
            at = now()  # on receipt: the client's own parsing is not the bus's
            message = json.loads(raw)
            if message.get("topic") == "bench.ping":
                received.setdefault(message["data"]["seq"], []).append(at)

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    print("ready", flush=True)
    deadline = now() + 60 + pings * 2
    while now() < deadline and sum(map(len, received.values())) < clients * pings:
        await asyncio.sleep(0.1)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    print(json.dumps(received), flush=True)


@dataclass
class FanOut:
    """Per ping: each client's latency (s) from the COMMIT's acknowledgement (0 for a client
    that had it before the committer heard back), and from the transaction's start (its
    INSERT and COMMIT, the disk's fsync included); and each commit's own duration."""

    from_commit: dict[int, list[float]]
    from_start: dict[int, list[float]]
    commits: list[float]


async def fan_out(port: int, runtime: Any, clients: int, pings: int) -> FanOut:
    """Each ping's latencies to every client. The clients live in their own processes, so
    the loop that commits is not the one that receives."""
    url = f"ws://localhost:{port}/api/v1/events/ws?topics=bench.ping"
    share = [clients // RECEIVERS + (1 if n < clients % RECEIVERS else 0) for n in range(RECEIVERS)]
    receivers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.bench_realtime",
            "--receive",
            url,
            str(count),
            str(pings),
            stdout=asyncio.subprocess.PIPE,
        )
        for count in share
    ]
    for receiver in receivers:
        assert receiver.stdout is not None
        assert (await receiver.stdout.readline()).strip() == b"ready"
    await asyncio.sleep(3.0)  # every connection's subscription in place before timing
    began: dict[int, float] = {}
    committed: dict[int, float] = {}
    for seq in range(pings):
        async with unit_of_work(runtime) as session:
            await events.emit(session, BenchPing(seq=seq))
            began[seq] = now()
        committed[seq] = now()
        await asyncio.sleep(0.2)
    received: dict[int, list[float]] = {}
    for receiver in receivers:
        assert receiver.stdout is not None
        for seq, times in json.loads(await receiver.stdout.read()).items():
            received.setdefault(int(seq), []).extend(times)
        await receiver.wait()
    measured = FanOut(
        {seq: [max(0.0, at - committed[seq]) for at in times] for seq, times in received.items()},
        {seq: [at - began[seq] for at in times] for seq, times in received.items()},
        [committed[seq] - began[seq] for seq in range(pings)],
    )
    for seq in sorted(measured.from_start):
        spread = [s * 1000 for s in measured.from_start[seq]]
        commit = measured.commits[seq] * 1000
        print(
            f"ping {seq}: commit {commit:.1f} ms; clients {min(spread):.1f} to {max(spread):.1f} ms"
        )
    missing = clients * pings - sum(map(len, measured.from_commit.values()))
    if missing:
        print(f"fan-out: {missing} deliveries missing")
    return measured


async def rules(runtime: Any, count: int, rounds: int) -> float:
    """Events decided per second with `count` rules on grid.job_changed."""
    owners = []
    async with unit_of_work(runtime) as session:
        for index in range(count // 10):
            user = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.org", roles=["creator"])
            session.add(user)
            await session.flush()
            owners.append(user.id)
            for n in range(10):
                session.add(
                    Rule(
                        owner_id=user.id,
                        name=f"r{index}-{n}",
                        enabled=True,
                        trigger="event",
                        topic="grid.job_changed",
                        conditions=[{"field": "state", "op": "eq", "value": "never"}],
                        actions=[{"kind": "email", "subject": "s", "body": "b"}],
                        max_runs_per_hour=60,
                    )
                )
    started = time.perf_counter()
    for index in range(rounds):
        owner = owners[index % len(owners)]
        event = JobChanged(
            request_id=uuid.uuid4(), owner_id=owner, kind="image", state="queued", progress=0
        )
        async with unit_of_work(runtime) as session:
            await automation.fire_for_event(
                session,
                event.topic,
                event.model_dump(mode="json"),
                event.audience(),
                f"bench:{index}",
                [],
            )
    return rounds / (time.perf_counter() - started)


def _messages(count: int) -> list[bytes]:
    """`count` signed messages: casts of the followed account, then as many likes of them
    from other accounts (reactions are most of what a hub carries)."""
    key = Ed25519PrivateKey.generate()
    base = farcaster.farcaster_time() - count
    casts = [
        farcaster.signed_message(key, farcaster.cast_data(FID, f"cast {n}", timestamp=base + n))
        for n in range(count // 2)
    ]
    likes = [
        farcaster.signed_message(
            key,
            farcaster.reaction_data(
                FID + 1 + n,
                (FID, farcaster.verify(message).hash),
                timestamp=base + count // 2 + n,
            ),
        )
        for n, (message, _) in enumerate(casts)
    ]
    return [wire for _, wire in casts + likes]


async def indexer(port: int, runtime: Any, count: int) -> tuple[float, float]:
    """(verified messages/s while catching up, bare verifications/s)."""
    wires = _messages(count)
    hub = f"http://localhost:{port}/farcaster/hub"
    async with httpx.AsyncClient(timeout=30) as http:
        for wire in wires:
            answer = await http.post(f"{hub}/v1/submitMessage", content=wire)
            answer.raise_for_status()
    client = HubClient(hub)
    async with unit_of_work(runtime) as session:  # the stream alone is timed, no backfill
        (await social_repo.cursor(session, hub)).backfilled_at = datetime.now(UTC)
    started = time.perf_counter()
    indexed = 0
    while True:
        report = await scheduled.follow_hub(runtime, client)
        assert report.error is None, report.error
        indexed += report.events
        if report.events == 0:
            break
    caught_up = indexed / (time.perf_counter() - started)
    decoded = [farcaster.decode_message(w) for w in wires[:2000]]
    started = time.perf_counter()
    for message in decoded:
        farcaster.verify(message)
    bare = len(decoded) / (time.perf_counter() - started)
    return caught_up, bare


async def main(quick: bool) -> None:
    clients = 200 if quick else 1000
    pings = 10 if quick else 100
    server, url = embedded_database("bench_realtime")
    home = Path(tempfile.mkdtemp())
    port = free_port()
    fids = json.dumps([FID])
    process = start_server(  # the clients share one address: the per-client cap set aside
        "grid",
        url,
        home / "server",
        port,
        ATELIER_FARCASTER_FIDS=fids,
        ATELIER_PORT=str(port),
        ATELIER_REALTIME_MAX_PER_CLIENT=str(clients * 2),
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=home / "bench", database_url=url, farcaster_fids=[FID], port=port
    )
    runtime = await open_runtime(settings, url)
    try:
        latencies = await fan_out(port, runtime, clients, pings)
        rate = await rules(runtime, 100 if quick else 1000, 200 if quick else 1000)
        caught_up, bare = await indexer(port, runtime, 500 if quick else 5000)
    finally:
        await close_runtime(runtime)
        process.terminate()
        process.wait(30)
        server.cleanup()
    ms = [s * 1000 for times in latencies.from_commit.values() for s in times]
    whole = [s * 1000 for times in latencies.from_start.values() for s in times]
    worst_by_ping = sorted(max(times) * 1000 for times in latencies.from_commit.values() if times)
    commits = [s * 1000 for s in latencies.commits]
    rows = [
        Row("fan-out p50", percentile(ms, 50), "ms", note=f"{clients} WebSocket clients"),
        Row("fan-out p99", percentile(ms, 99), "ms", "< 100", f"{len(ms)} deliveries"),
        Row("fan-out max", max(ms), "ms"),
        Row(
            "fan-out, median ping's last client",
            worst_by_ping[len(worst_by_ping) // 2] if worst_by_ping else 0.0,
            "ms",
            note="how long until the slowest of the clients has a typical event",
        ),
        Row(
            "fan-out p99 from the transaction's start",
            percentile(whole, 99),
            "ms",
            note="its INSERT and COMMIT (fsync) counted in",
        ),
        Row("commit p99", percentile(commits, 99), "ms", note="INSERT + COMMIT of one event"),
        Row("rule decisions", rate, "events/s", note="1,000 active rules on the topic"),
        Row(
            "indexer catch-up",
            caught_up,
            "verified messages/s",
            note="stand-in hub over HTTP; half casts, half likes of them",
        ),
        Row("verification alone", bare, "messages/s", note="BLAKE3 + ed25519, no I/O"),
    ]
    path = write_results("realtime", rows, {"clients": clients, "pings": pings, "quick": quick})
    print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--receive", nargs=3, metavar=("URL", "CLIENTS", "PINGS"))
    arguments = parser.parse_args()
    if arguments.receive:
        url, count, pings = arguments.receive
        asyncio.run(receive(url, int(count), int(pings)))
    else:
        asyncio.run(main(arguments.quick))
