"""The camera's Solana middleware (port 5001, seed routes `/api/blockchain/*`, `/api/session/*`).

It alone talks to the chain: it builds check-in transactions, pays their fee with its own key
(derived from the operator's secret, never stored), sends them and waits for confirmation.
The camera asks it which sessions are active and whose a user's token is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field, model_validator
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from atelier.camera.edge import bearer, edge_app, every, unauthorized
from atelier.camera.keys import same_token
from atelier.camera.sessions import Challenge, CheckInRefused, Session, Sessions
from atelier.camera.vault_api import WALLET
from atelier.chain.solana.client import (
    RpcSolana,
    SolanaClient,
    SolanaUnavailable,
    TransactionRejected,
    confirm,
)
from atelier.core.errors import Conflict, InvalidInput, ServiceUnavailable, Unauthorized
from atelier.core.logging import get_logger

log = get_logger("atelier.camera.middleware")
LAMPORTS_PER_SOL = 1_000_000_000
LOW_BALANCE = LAMPORTS_PER_SOL // 20
SWEEP_PERIOD_S = 5.0


class ChallengeIn(BaseModel):
    wallet: str = Field(pattern=WALLET)
    chain: Literal["solana", "evm"] = "solana"

    @model_validator(mode="after")
    def _matches_chain(self) -> ChallengeIn:
        if (self.chain == "evm") != self.wallet.startswith("0x"):
            raise ValueError("an evm wallet is 0x…, a solana wallet is base58")
        if self.chain == "solana":
            try:
                Pubkey.from_string(self.wallet)
            except ValueError:
                raise ValueError("not a Solana address") from None
        return self


class ChallengeOut(BaseModel):
    nonce: str
    wallet: str
    chain: str
    message: str
    transaction: str | None = Field(
        description="base64 check-in transaction to sign (Solana); null for EVM wallets"
    )
    expires_at: float


class CheckInIn(BaseModel):
    nonce: str = Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")
    transaction: str | None = Field(default=None, max_length=4096)
    signature: str | None = Field(default=None, max_length=200)


class CheckInOut(BaseModel):
    session: dict[str, Any]
    token: str


class TokenIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)


@dataclass
class Middleware:
    """What the middleware's routes use (on `app.state.middleware`)."""

    sessions: Sessions
    solana: SolanaClient
    fee_payer: Keypair
    token: str
    cluster: str
    funding: asyncio.Lock = field(default_factory=asyncio.Lock)
    funded: bool = False

    async def fund(self) -> None:
        """The fee payer needs lamports: a development cluster (the embedded runtime, devnet)
        gives them on request; on a real one the operator funds it (status shows it)."""
        async with self.funding:
            if self.funded:
                return
            address = self.fee_payer.pubkey()
            balance = await self.solana.balance(address)
            if balance < LOW_BALANCE and isinstance(self.solana, RpcSolana):
                with contextlib.suppress(SolanaUnavailable):
                    await self.solana.call("requestAirdrop", [str(address), LAMPORTS_PER_SOL])
                    balance = await self.solana.balance(address)
            if balance < LOW_BALANCE:
                log.warning("camera.fee_payer_low", address=str(address))
            self.funded = True


def _middleware(request: Request) -> Middleware:
    middleware: Middleware = request.app.state.middleware
    return middleware


def _service(request: Request) -> None:
    if not same_token(bearer(request), _middleware(request).token):
        raise unauthorized()


def _user_session(request: Request) -> Session:
    given = bearer(request)
    session = _middleware(request).sessions.by_token(given) if given else None
    if session is None:
        raise Unauthorized(
            "check in first: this needs the token your check-in returned", slug="not-checked-in"
        )
    return session


TheMiddleware = Annotated[Middleware, Depends(_middleware)]
ServiceCall = Annotated[None, Depends(_service)]
CheckedIn = Annotated[Session, Depends(_user_session)]
router = APIRouter()


@router.get("/api/health")
async def health(mw: TheMiddleware) -> dict[str, Any]:
    return {"status": "ok", "service": "solana-middleware", "active": len(mw.sessions.active())}


@router.get("/api/blockchain/camera")
async def camera(mw: TheMiddleware) -> dict[str, Any]:
    return {
        "camera": mw.sessions.camera,
        "program_id": str(mw.sessions.program_id),
        "pda": str(mw.sessions.pda),
        "fee_payer": str(mw.fee_payer.pubkey()),
        "cluster": mw.cluster,
    }


@router.post("/api/session/challenge", status_code=201)
async def challenge(body: ChallengeIn, mw: TheMiddleware) -> ChallengeOut:
    transaction = None
    if body.chain == "solana":
        await mw.fund()
        recent = await mw.solana.latest_blockhash()
        issued = mw.sessions.challenge(
            body.wallet,
            "solana",
            fee_payer=mw.fee_payer.pubkey(),
            blockhash=recent.blockhash,
            last_valid_block_height=recent.last_valid_block_height,
        )
        assert issued.transaction is not None
        transaction = _unsigned_transaction(issued.transaction)
    else:
        issued = mw.sessions.challenge(body.wallet, "evm")
    return ChallengeOut(
        nonce=issued.nonce,
        wallet=issued.wallet,
        chain=issued.chain,
        message=issued.message,
        transaction=transaction,
        expires_at=issued.expires_at,
    )


async def _prove(mw: Middleware, spent: Challenge, body: CheckInIn) -> str | None:
    """The check-in's proof, checked: the Solana transaction landed (its signature), or the
    EVM message signature (None: off chain)."""
    if spent.chain == "evm":
        if body.signature is None:
            raise CheckInRefused("signature-required", "send the message's signature")
        mw.sessions.check_message_signature(spent, body.signature)
        return None
    if body.transaction is None:
        raise CheckInRefused("transaction-required", "send the signed transaction")
    try:
        encoded = base64.b64decode(body.transaction, validate=True)
    except (binascii.Error, ValueError):
        raise CheckInRefused("bad-transaction", "the transaction is not base64") from None
    signed = mw.sessions.signed_transaction(spent, encoded, mw.fee_payer)
    return await _land(mw.solana, signed, spent.last_valid_block_height or 0)


@router.post("/api/session/checkin", status_code=201)
async def checkin(body: CheckInIn, mw: TheMiddleware) -> CheckInOut:
    try:
        spent = mw.sessions.spend(body.nonce)
        signature = await _prove(mw, spent, body)
    except CheckInRefused as refused:
        kind = Conflict if refused.slug == "unknown-challenge" else InvalidInput
        raise kind(refused.detail, slug=refused.slug) from None
    session, user_token = mw.sessions.start(spent, signature)
    log.info("camera.checked_in", session=session.id, chain=session.chain)
    return CheckInOut(session=session.public(), token=user_token)


@router.get("/api/session/current")
async def current(session: CheckedIn) -> dict[str, Any]:
    return session.public()


@router.post("/api/session/checkout")
async def checkout(session: CheckedIn, mw: TheMiddleware) -> dict[str, Any]:
    return mw.sessions.end(session, "checked-out").public()


@router.get("/api/session/active")
async def active(_: ServiceCall, mw: TheMiddleware) -> list[dict[str, Any]]:
    return [s.public() for s in mw.sessions.active()]


@router.post("/api/session/resolve")
async def resolve(body: TokenIn, _: ServiceCall, mw: TheMiddleware) -> dict[str, Any]:
    session = mw.sessions.by_token(body.token)
    if session is None:
        raise Unauthorized("no active session has this token", slug="not-checked-in")
    return session.public()


def middleware_app(middleware: Middleware) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            for session in middleware.sessions.expire():
                log.info("camera.session_expired", session=session.id)

        async with every(SWEEP_PERIOD_S, sweep, name="session-expiry"):
            yield

    app = edge_app(
        "Atelier camera node: Solana middleware", "Wallet check-ins, the camera PDA, sessions."
    )
    app.router.lifespan_context = lifespan
    app.state.middleware = middleware
    app.include_router(router)
    return app


def _unsigned_transaction(message: bytes) -> str:
    """A transaction in wire format with empty signature slots, as wallets expect."""
    return base64.b64encode(bytes(Transaction.new_unsigned(Message.from_bytes(message)))).decode()


async def _land(
    solana: SolanaClient, transaction: Transaction, last_valid_block_height: int
) -> str:
    try:
        signature = await solana.send(transaction)
        outcome = await confirm(solana, signature, last_valid_block_height, poll_s=0.2)
    except TransactionRejected as exc:
        raise CheckInRefused("rejected", f"the chain refused the check-in: {exc}") from None
    except SolanaUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    if outcome == "dropped":
        raise CheckInRefused("dropped", "the check-in expired before it landed: check in again")
    return signature
