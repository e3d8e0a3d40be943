"""The dashboard's pages under load: server time (the `Server-Timing` each answer carries,
p50/p99) with 50 concurrent clients against one `atelier serve grid` process, and each page's
weight (its HTML and the static files it loads, uncompressed, before media).

    python -m benchmarks.bench_web [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from atelier.core.config import Settings
from atelier.core.startup import close_runtime, open_runtime
from atelier.identity.principal import ClientInfo
from atelier.identity.service import wallets
from benchmarks.common import (
    Row,
    embedded_database,
    free_port,
    start_server,
    summary_ms,
    write_results,
)

PAGES = {
    "/": "front page",
    "/sign-in": "sign-in",
    "/grid": "grid",
    "/proposals": "voting",
    "/dashboard": "dashboard (signed in)",
    "/jobs": "jobs (signed in)",
    "/music": "music (signed in)",
}
CLIENTS = 50
PACED_SECONDS = 10
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


async def _session_cookie(settings: Settings, url: str) -> str:
    """A signed-in member (Sign-In With Ethereum, as a browser wallet does)."""
    runtime = await open_runtime(settings, url)
    account = Account.create()
    try:
        async with runtime.sessions() as session, session.begin():
            message = await wallets.evm_sign_in_message(session, settings, account.address, 1)
        signature = Account.sign_message(encode_defunct(text=message), account.key).signature
        async with runtime.sessions() as session, session.begin():
            pair = await wallets.wallet_sign_in(
                session,
                settings,
                runtime.jwt_key,
                "evm",
                message,
                "0x" + bytes(signature).hex(),
                ClientInfo(ip="127.0.0.1", user_agent="bench"),
            )
    finally:
        await close_runtime(runtime)
    return pair.access_token


async def bench(requests_per_page: int) -> list[Row]:
    import aiohttp

    server, url = embedded_database("bench_web")
    home = Path(tempfile.mkdtemp())
    port = free_port()
    settings = Settings(_env_file=None, home=home, database_url=url, port=port)  # type: ignore[call-arg]
    token = await _session_cookie(settings, url)  # issued for the server's origin
    process = start_server("grid", url, home, port)
    base = f"http://localhost:{port}"
    rows: list[Row] = []
    try:
        member = {"Cookie": f"atelier_session={token}"}
        async with (
            aiohttp.ClientSession() as visitor,
            aiohttp.ClientSession(headers=member) as signed,
        ):
            for path, name in PAGES.items():
                http = signed if "signed in" in name else visitor
                async with http.get(base + path, allow_redirects=False) as first:
                    assert first.status == 200, (path, first.status)
                    html = await first.read()
                weight = len(html)
                for asset in sorted(set(ASSET.findall(html.decode()))):
                    async with http.get(base + asset) as answer:
                        weight += len(await answer.read())
                alone = await _server_times(http, base + path, 100, clients=1)
                paced = await _paced_server_times(http, base + path, PACED_SECONDS)
                started = time.perf_counter()
                timings = await _server_times(http, base + path, requests_per_page)
                rate = requests_per_page / (time.perf_counter() - started)
                stats = summary_ms(timings)
                target = "< 50 ms" if "signed in" in name else ""
                saturated = "" if not target else "(50 / throughput: see the paced row)"
                note = f"{requests_per_page} requests, {CLIENTS} concurrent clients"
                rows += [
                    Row(
                        f"{name} {path}: server time, one client, p50",
                        summary_ms(alone)["p50"],
                        "ms",
                        "",
                        "100 requests one after another: the page's own cost",
                    ),
                    Row(
                        f"{name} {path}: server time p99, 50 clients at 1 page/s each",
                        summary_ms(paced)["p99"],
                        "ms",
                        target,
                        f"{len(paced)} requests over {PACED_SECONDS} s: 50 people browsing "
                        "(each loads a page a second), not a closed loop",
                    ),
                    Row(f"{name} {path}: pages per second", rate, "pages/s", "", note),
                    Row(f"{name} {path}: server time p50", stats["p50"], "ms", "", note),
                    Row(f"{name} {path}: server time p99", stats["p99"], "ms", saturated, note),
                    Row(
                        f"{name} {path}: weight",
                        weight / 1024,
                        "KiB",
                        "< 150 KiB",
                        "HTML + the CSS and scripts it loads, uncompressed, before media",
                    ),
                ]
    finally:
        process.terminate()
        process.wait(timeout=30)
        server.cleanup()
    return rows


async def _server_times(http: Any, url: str, requests: int, clients: int = CLIENTS) -> list[float]:
    """`requests` GETs of `url` from `clients` concurrent clients; the server's own times
    (under load they include waiting for the event loop and a database connection: with
    clients in a closed loop, time in the server = clients / throughput)."""
    timings: list[float] = []
    pending = iter(range(requests))

    async def client() -> None:
        for _ in pending:  # one shared iterator: each request is made once
            async with http.get(url, allow_redirects=False) as answer:
                await answer.read()
                timings.append(float(answer.headers["server-timing"].split("dur=")[1]) / 1000)

    await asyncio.gather(*(client() for _ in range(clients)))
    return timings


async def _paced_server_times(http: Any, url: str, seconds: int) -> list[float]:
    """CLIENTS clients each loading the page once a second (each starting at its own moment
    within the first second): an open loop, the load 50 people browsing put on a server."""
    timings: list[float] = []

    async def person(offset: float) -> None:
        await asyncio.sleep(offset)
        for _ in range(seconds):
            started = time.perf_counter()
            async with http.get(url, allow_redirects=False) as answer:
                await answer.read()
                timings.append(float(answer.headers["server-timing"].split("dur=")[1]) / 1000)
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

    await asyncio.gather(*(person(i / CLIENTS) for i in range(CLIENTS)))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(bench(200 if args.quick else 2000))
    context = {
        "cores": os.cpu_count() or 0,
        "server": "one uvicorn process (atelier serve grid); clients and PostgreSQL on the "
        "same machine",
    }
    path = write_results("web", rows, context)
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
