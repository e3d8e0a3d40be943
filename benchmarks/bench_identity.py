"""Identity benchmarks: API-key authentication overhead, SIWE verify + token issue rate,
and `make run` to the first healthy /health.

    python -m benchmarks.bench_identity [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import SiweMessage

from atelier.core.config import Settings
from atelier.core.startup import close_runtime, open_runtime
from atelier.identity.models import User
from atelier.identity.principal import ClientInfo
from atelier.identity.service import api_keys, wallets
from atelier.server.modules import task_blueprints
from benchmarks.common import Row, embedded_database, summary_ms, write_results

ROOT = Path(__file__).resolve().parent.parent


async def bench_api_key(url: str, home: Path, iterations: int) -> list[Row]:
    settings = Settings(_env_file=None, home=home, database_url=url)  # type: ignore[call-arg]
    runtime = await open_runtime(settings, url, blueprints=task_blueprints())
    try:
        async with runtime.sessions() as session, session.begin():
            user = User(email="bench@example.org", roles=["creator"])
            session.add(user)
            await session.flush()
            _, raw = await api_keys.create_api_key(session, user.id, "bench")
        samples = []
        for i in range(iterations + 200):
            started = time.perf_counter()
            async with runtime.hot.connection() as conn:
                await api_keys.principal_from_api_key(conn, raw)
            if i >= 200:  # warm-up excluded
                samples.append(time.perf_counter() - started)
    finally:
        await close_runtime(runtime)
    stats = summary_ms(samples)
    return [
        Row("API-key auth p50", stats["p50"], "ms", "< 1 ms", f"{iterations} requests, warm pool"),
        Row("API-key auth p99", stats["p99"], "ms"),
    ]


def _signed_messages(nonces: list[str]) -> list[tuple[str, str]]:
    signed = []
    issued = datetime.now(UTC)
    for nonce in nonces:
        account = Account.create()
        text = SiweMessage(
            domain="localhost:8080",
            address=account.address,
            uri="http://localhost:8080",
            version="1",
            chain_id=1,
            nonce=nonce,
            statement="Sign in to Atelier.",
            issued_at=issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
            expiration_time=(issued + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ).prepare_message()
        signature = Account.sign_message(encode_defunct(text=text), account.key).signature
        signed.append((text, "0x" + bytes(signature).hex()))
    return signed


async def bench_siwe(url: str, home: Path, count: int) -> list[Row]:
    settings = Settings(_env_file=None, home=home, database_url=url)  # type: ignore[call-arg]
    runtime = await open_runtime(settings, url, blueprints=task_blueprints())
    client = ClientInfo(ip="127.0.0.1", user_agent="bench")
    try:
        async with runtime.sessions() as session, session.begin():
            nonces = [
                (await wallets.new_nonce(session, settings, "signin")).nonce for _ in range(count)
            ]
        messages = _signed_messages(nonces)  # wallet-side work, not timed
        samples = []
        started_all = time.perf_counter()
        for text, signature in messages:
            started = time.perf_counter()
            async with runtime.sessions() as session, session.begin():
                await wallets.wallet_sign_in(
                    session, settings, runtime.jwt_key, "evm", text, signature, client
                )
            samples.append(time.perf_counter() - started)
        elapsed = time.perf_counter() - started_all
    finally:
        await close_runtime(runtime)
    stats = summary_ms(samples)
    return [
        Row(
            "SIWE verify + account + tokens",
            count / elapsed,
            "sign-ins/s",
            "",
            f"{count} first-time sign-ins, one connection, sequential",
        ),
        Row("SIWE sign-in p50", stats["p50"], "ms"),
        Row("SIWE sign-in p99", stats["p99"], "ms"),
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_make_run(runs: int) -> list[Row]:
    """Time from `make run` to the first 200 from /health, on a warm machine (venv installed,
    data directory initialised by a first run that is not counted)."""
    home = Path(tempfile.mkdtemp()) / "home"
    times = []
    for i in range(runs + 1):
        port = _free_port()
        env = {**os.environ, "ATELIER_HOME": str(home), "ATELIER_PORT": str(port)}
        env.pop("ATELIER_DATABASE_URL", None)
        started = time.perf_counter()
        process = subprocess.Popen(
            ["make", "-s", "run"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if httpx.get(f"http://localhost:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError("make run exited early")
                time.sleep(0.05)
            if i > 0:
                times.append(time.perf_counter() - started)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    return [
        Row(
            "make run -> healthy /health (warm)",
            min(times),
            "s",
            "< 10 s",
            f"best of {runs}; median {sorted(times)[len(times) // 2]:.2f} s",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    server, url = embedded_database("bench_identity")
    home = Path(tempfile.mkdtemp())
    iterations = 500 if args.quick else 3000
    rows = asyncio.run(bench_api_key(url, home, iterations))
    rows += asyncio.run(bench_siwe(url, home, 100 if args.quick else 500))
    rows += bench_make_run(1 if args.quick else 3)
    server.cleanup()
    path = write_results("identity", rows, {"cores": os.cpu_count() or 0})
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
