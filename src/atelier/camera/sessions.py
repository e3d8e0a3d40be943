"""Check-ins: who is present at this camera, proven with their wallet.

A check-in starts with a challenge bound to this camera (its name and PDA), the wallet and a
single-use nonce that lives one minute. A Solana wallet signs the check-in *transaction* the
middleware built: a Memo naming the camera and nonce, signed by the wallet, plus a zero-lamport
transfer that references the camera PDA (Solana Pay's reference pattern: the check-in is then
found by `getSignaturesForAddress(camera PDA)`). The middleware checks the wallet's signature
over exactly the bytes it built, adds its own as fee payer, sends it and waits for
confirmation. An Ethereum wallet signs the challenge text (EIP-191); that check-in stays off
chain. Either way the nonce is spent at the first attempt: a replay, or a signature made for
another camera (whose nonce this one never issued), is refused.

A session ends at check-out, when its TTL runs out, or when the same wallet checks in again;
the user holds a bearer token for it (only its SHA-256 is kept).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from atelier.chain.solana import programs
from atelier.core.secrets import write_private_file

Chain = Literal["solana", "evm"]
CHALLENGE_TTL_S = 60.0  # about a blockhash's life
MAX_PENDING = 1024
KEEP_ENDED_S = 86400.0  # ended sessions are shown for a day, then forgotten


class CheckInRefused(Exception):
    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug, self.detail = slug, detail


def camera_pda(program_id: Pubkey, camera: str) -> Pubkey:
    address, _ = Pubkey.find_program_address([b"camera", camera.encode()], program_id)
    return address


def checkin_memo(camera: str, nonce: str) -> str:
    return f"atelier:checkin:{camera}:{nonce}"


@dataclass
class Challenge:
    nonce: str
    wallet: str
    chain: Chain
    message: str
    expires_at: float
    transaction: bytes | None = None  # the Solana message bytes the wallet must sign
    last_valid_block_height: int | None = None


@dataclass
class Session:
    id: str
    wallet: str
    chain: Chain
    camera: str
    started_at: float
    expires_at: float
    token_sha256: str
    signature: str | None = None  # the check-in transaction, on Solana
    ended_at: float | None = None
    end_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def public(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "token_sha256"}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Challenges and sessions of one camera. Sessions are kept in `path` (tokens hashed);
    challenges only in memory: a restart asks wallets to sign again."""

    def __init__(
        self,
        camera: str,
        program_id: Pubkey,
        path: Path,
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.camera, self.pda = camera, camera_pda(program_id, camera)
        self.program_id = program_id
        self.path, self.ttl_s, self._clock = path, ttl_s, clock
        self._pending: OrderedDict[str, Challenge] = OrderedDict()
        self._sessions: dict[str, Session] = {}
        if path.exists():
            for row in json.loads(path.read_text()):
                self._sessions[row["id"]] = Session(**row)

    def _save(self) -> None:
        horizon = self._clock() - KEEP_ENDED_S
        for ended in [s for s in self._sessions.values() if (s.ended_at or float("inf")) < horizon]:
            del self._sessions[ended.id]
        live = [asdict(s) for s in self._sessions.values()]
        temporary = self.path.with_suffix(".tmp")
        write_private_file(temporary, json.dumps(live).encode())
        temporary.replace(self.path)

    def message(self, wallet: str, chain: Chain, nonce: str, issued: float) -> str:
        network = "Solana" if chain == "solana" else "Ethereum"
        return (
            f"{self.camera} wants you to check in with your {network} account:\n{wallet}\n\n"
            f"Camera: {self.camera}\nCamera PDA: {self.pda}\nNonce: {nonce}\n"
            f"Issued At: {_iso(issued)}\nExpiration Time: {_iso(issued + CHALLENGE_TTL_S)}"
        )

    def challenge(
        self,
        wallet: str,
        chain: Chain,
        *,
        fee_payer: Pubkey | None = None,
        blockhash: object | None = None,
        last_valid_block_height: int | None = None,
    ) -> Challenge:
        now = self._clock()
        self._forget_stale(now)
        nonce = secrets.token_hex(16)
        challenge = Challenge(
            nonce=nonce,
            wallet=wallet,
            chain=chain,
            message=self.message(wallet, chain, nonce, now),
            expires_at=now + CHALLENGE_TTL_S,
        )
        if chain == "solana":
            assert fee_payer is not None
            assert blockhash is not None
            signer = Pubkey.from_string(wallet)
            message = Message.new_with_blockhash(
                [
                    programs.memo(checkin_memo(self.camera, nonce), [signer]),
                    programs.pay(signer, self.pda, 0),
                ],
                fee_payer,
                blockhash,  # type: ignore[arg-type]
            )
            challenge.transaction = bytes(message)
            challenge.last_valid_block_height = last_valid_block_height
        self._pending[nonce] = challenge
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return challenge

    def _forget_stale(self, now: float) -> None:
        for nonce in [n for n, c in self._pending.items() if c.expires_at <= now]:
            del self._pending[nonce]

    def spend(self, nonce: str) -> Challenge:
        """The challenge for `nonce`, removed: whatever happens next, it cannot be used
        again."""
        challenge = self._pending.pop(nonce, None)
        if challenge is None:
            raise CheckInRefused(
                "unknown-challenge",
                "this camera issued no such challenge, or it was used already: ask for a new one",
            )
        if challenge.expires_at <= self._clock():
            raise CheckInRefused("challenge-expired", "the challenge expired: ask for a new one")
        return challenge

    def signed_transaction(
        self, challenge: Challenge, encoded: bytes, fee_payer: Keypair
    ) -> Transaction:
        """The wallet's signed check-in, checked and countersigned by the fee payer."""
        try:
            transaction = Transaction.from_bytes(encoded)
        except ValueError:
            raise CheckInRefused("bad-transaction", "the transaction cannot be decoded") from None
        if challenge.transaction is None or bytes(transaction.message) != challenge.transaction:
            raise CheckInRefused(
                "wrong-transaction", "this is not the check-in transaction this camera built"
            )
        wallet = Pubkey.from_string(challenge.wallet)
        keys = list(transaction.message.account_keys)
        signature = transaction.signatures[keys.index(wallet)]
        if not signature.verify(wallet, challenge.transaction):
            raise CheckInRefused("bad-signature", "the wallet's signature does not verify")
        transaction.partial_sign([fee_payer], transaction.message.recent_blockhash)
        return transaction

    def check_message_signature(self, challenge: Challenge, signature: str) -> None:
        try:
            signer = Account.recover_message(
                encode_defunct(text=challenge.message), signature=signature
            )
        except Exception:  # eth-account raises several types for malformed signatures
            raise CheckInRefused("bad-signature", "the signature cannot be read") from None
        if signer.lower() != challenge.wallet.lower():
            raise CheckInRefused("bad-signature", "the message was not signed by this wallet")

    def start(self, challenge: Challenge, signature: str | None) -> tuple[Session, str]:
        now = self._clock()
        for earlier in self.active():
            if earlier.wallet == challenge.wallet:
                earlier.ended_at, earlier.end_reason = now, "checked-in-again"
        token = secrets.token_urlsafe(32)
        session = Session(
            id=uuid.uuid4().hex,
            wallet=challenge.wallet,
            chain=challenge.chain,
            camera=self.camera,
            started_at=now,
            expires_at=now + self.ttl_s,
            token_sha256=_token_hash(token),
            signature=signature,
        )
        self._sessions[session.id] = session
        self._save()
        return session, token

    def by_token(self, token: str) -> Session | None:
        digest = _token_hash(token)
        now = self._clock()
        for session in self._sessions.values():
            if session.active and session.token_sha256 == digest and session.expires_at > now:
                return session
        return None

    def end(self, session: Session, reason: str) -> Session:
        if session.active:
            session.ended_at, session.end_reason = self._clock(), reason
            self._save()
        return session

    def expire(self) -> list[Session]:
        now = self._clock()
        due = [s for s in self.active() if s.expires_at <= now]
        for session in due:
            session.ended_at, session.end_reason = now, "expired"
        if due:
            self._save()
        return due

    def active(self) -> list[Session]:
        return [s for s in self._sessions.values() if s.active]
