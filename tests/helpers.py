"""Test helpers that act like a user or a wallet would: no shortcuts into our own code."""

from __future__ import annotations

import asyncio
import contextlib
import email
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import FastAPI
from siwe import SiweMessage
from solders.keypair import Keypair

from atelier.core.runtime import Runtime
from atelier.core.transactions import kick_dispatcher

STRONG_PASSWORD = "Correct-Horse-9-Battery"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


async def drain_tasks(runtime: Runtime) -> None:
    """Run a real procrastinate worker until the queue is empty (outbox → handlers)."""
    await kick_dispatcher(runtime.tasks)  # what the periodic tick would do
    for _ in range(3):  # dispatch defers handler jobs; run again so those run too
        await runtime.tasks.run_worker_async(
            wait=False, install_signal_handlers=False, concurrency=1, listen_notify=False
        )


def mailbox_messages(mailbox: Path) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(mailbox.glob("*.eml"))]


def verification_token_for(mailbox: Path, address: str) -> str:
    for message in reversed(mailbox_messages(mailbox)):
        if message["To"] == address:
            body = message.get_payload(decode=True)
            assert isinstance(body, bytes)
            for word in body.decode().split():
                if "verify-email?token=" in word:
                    return parse_qs(urlsplit(word).query)["token"][0]
    raise AssertionError(f"no verification email for {address}")


async def register_verified(
    client: httpx.AsyncClient, runtime: Runtime, address: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Register, follow the emailed link, log in; returns (email, token pair)."""
    address = address or unique_email()
    response = await client.post(
        "/api/v1/auth/register", json={"email": address, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 202, response.text
    await drain_tasks(runtime)
    token = verification_token_for(runtime.settings.mailbox_dir, address)
    verified = await client.get("/api/v1/auth/verify-email", params={"token": token})
    assert verified.status_code == 200, verified.text
    login = await client.post(
        "/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200, login.text
    return address, login.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def siwe_message(
    address: str,
    nonce: str,
    *,
    domain: str = "localhost:8080",
    uri: str = "http://localhost:8080",
    chain_id: int = 1,
    expires_in: timedelta | None = timedelta(minutes=5),
    issued_at: datetime | None = None,
) -> str:
    issued = issued_at or datetime.now(UTC)
    fields: dict[str, Any] = {
        "domain": domain,
        "address": address,
        "uri": uri,
        "version": "1",
        "chain_id": chain_id,
        "nonce": nonce,
        "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "statement": "Sign in to Atelier.",
    }
    if expires_in is not None:
        fields["expiration_time"] = (issued + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(SiweMessage(**fields).prepare_message())


def eth_sign(account: Any, message: str) -> str:
    return (
        "0x"
        + bytes(Account.sign_message(encode_defunct(text=message), account.key).signature).hex()
    )


def siws_message(
    address: str,
    nonce: str,
    *,
    domain: str = "localhost:8080",
    uri: str = "http://localhost:8080",
    chain_id: str = "mainnet",
    expires_in: timedelta = timedelta(minutes=5),
) -> str:
    """Written out by hand, as a Solana wallet adapter would, to test our parser honestly."""
    issued = datetime.now(UTC)
    return (
        f"{domain} wants you to sign in with your Solana account:\n{address}\n\n"
        f"Sign in to Atelier.\n\nURI: {uri}\nVersion: 1\nChain ID: {chain_id}\n"
        f"Nonce: {nonce}\nIssued At: {issued.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"Expiration Time: {(issued + expires_in).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def sol_sign(keypair: Keypair, message: str) -> str:
    return str(keypair.sign_message(message.encode()))


def cli_wallet(out: Path, chain: str = "evm", style: str = "chrome") -> tuple[str, Path]:
    """A wallet made as a user makes one (`atelier wallet create` into `out`): its address
    and the file holding its passphrase."""
    from typer.testing import CliRunner

    from atelier.cli import app

    passphrase = out.parent / f"{out.name}.pass"
    passphrase.write_text("a long passphrase\n")
    created = CliRunner().invoke(
        app,
        [
            "wallet",
            "create",
            "--chain",
            chain,
            "--style",
            style,
            "--passphrase-file",
            str(passphrase),
            "--out",
            str(out),
        ],
    )
    assert created.exit_code == 0, created.output
    profile = next(p for p in out.glob("*.json") if not p.name.endswith(".keystore.json"))
    return profile.stem, passphrase


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[str]:
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
