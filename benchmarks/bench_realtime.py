"""Issue 17's three measures, against a real `atelier serve grid` process:

- fan-out: 1,000 WebSocket clients follow a public topic; events are committed by another
  process (this one) and the time from each commit to each client's receipt is measured
  (target: p99 < 100 ms on this machine);
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
import tempfile
import time
import uuid
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


async def fan_out(port: int, runtime: Any, clients: int, pings: int) -> list[float]:
    """Latencies (s) from each commit to each client's receipt."""
    url = f"ws://localhost:{port}/api/v1/events/ws?topics=bench.ping"
    received: dict[int, list[float]] = {}
    sockets = []
    for start in range(0, clients, 100):
        batch = [websockets.connect(url, open_timeout=60) for _ in range(min(100, clients - start))]
        sockets += await asyncio.gather(*batch)

    async def listen(ws: Any) -> None:
        async for raw in ws:
            at = time.perf_counter()  # on receipt: the client's own parsing is not the bus's
            message = json.loads(raw)
            if message.get("topic") == "bench.ping":
                received.setdefault(message["data"]["seq"], []).append(at)

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    await asyncio.sleep(5.0)  # every connection's subscription in place before timing
    committed: dict[int, float] = {}
    for seq in range(pings):
        async with unit_of_work(runtime) as session:
            await events.emit(session, BenchPing(seq=seq))
        committed[seq] = time.perf_counter()
        await asyncio.sleep(0.3)
    await asyncio.sleep(2.0)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    latencies = [max(0.0, at - committed[seq]) for seq, times in received.items() for at in times]
    for seq in sorted(received):
        spread = [max(0.0, at - committed[seq]) * 1000 for at in received[seq]]
        print(f"ping {seq}: first client {min(spread):.1f} ms, last {max(spread):.1f} ms")
    missing = clients * pings - len(latencies)
    if missing:
        print(f"fan-out: {missing} deliveries missing")
    return latencies


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
    key = Ed25519PrivateKey.generate()
    base = farcaster.farcaster_time()
    return [
        farcaster.signed_message(
            key, farcaster.cast_data(FID, f"cast {n}", timestamp=base - count + n)
        )[1]
        for n in range(count)
    ]


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
    pings = 5 if quick else 20
    server, url = embedded_database("bench_realtime")
    home = Path(tempfile.mkdtemp())
    port = free_port()
    fids = json.dumps([FID])
    process = start_server(
        "grid", url, home / "server", port, ATELIER_FARCASTER_FIDS=fids, ATELIER_PORT=str(port)
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
    ms = [s * 1000 for s in latencies]
    worst_by_ping = sorted(
        max(ms[i] for i in range(start, min(len(ms), start + clients)))
        for start in range(0, len(ms), clients)
    )
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
        Row("rule decisions", rate, "events/s", note="1,000 active rules on the topic"),
        Row("indexer catch-up", caught_up, "verified messages/s", note="stand-in hub over HTTP"),
        Row("verification alone", bare, "messages/s", note="BLAKE3 + ed25519, no I/O"),
    ]
    path = write_results("realtime", rows, {"clients": clients, "pings": pings, "quick": quick})
    print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
