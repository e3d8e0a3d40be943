"""The embedded Solana runtime: LiteSVM in this process, kept across restarts.

- **State survives a restart.** After every transaction the accounts it named are appended
  to `solana/state.journal` in `$ATELIER_HOME` (core/journal.py), with the slot and the
  transaction's signature; a restart injects them back (`set_account`) and warps to the
  same slot. Programs and sysvars are LiteSVM's own and are not journaled.
- **Slots and blockhashes move.** Each transaction is a slot; a blockhash stays valid for
  `BLOCKHASH_LIFETIME_S` (about what a cluster gives) and is then replaced, so a client that
  signed long ago gets `BlockhashExpired` and must build again, as on a cluster.
- **Commitment.** One validator: a transaction that lands is finalized at once.
- **Only this process holds it** (a lock file, like the embedded EVM chain); other processes
  use the server's `/solana/rpc`. Airdrops exist only as a method here, for the platform's
  own accounts and the development faucet; the RPC endpoint does not offer them.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from atelier.chain.solana.client import (
    Blockhash,
    BlockhashExpired,
    Commitment,
    SignatureInfo,
    SignatureStatus,
    Simulation,
    TransactionRejected,
    is_blockhash_error,
)
from atelier.chain.solana.programs import TOKEN_PROGRAM, parse_token_account
from atelier.core.config import Settings
from atelier.core.journal import DirectoryInUse, Journal, hold_directory, replay
from atelier.core.logging import get_logger
from atelier.core.secrets import ensure_private_dir

log = get_logger(__name__)
T = TypeVar("T")

BLOCKHASH_LIFETIME_S = 60.0
# Heights a blockhash is said to stay valid for (what getLatestBlockhash answers).
VALID_BLOCKS = 150
_ACCOUNT, _GONE, _TX, _SLOT = b"A", b"X", b"T", b"S"
_OPS = frozenset({_ACCOUNT, _GONE, _TX, _SLOT})
_SYSVAR_OWNER = Pubkey.from_string("Sysvar1111111111111111111111111111111111111")
_COMPACT_FACTOR = 4


class RuntimeInUse(DirectoryInUse):
    """Another process has this home's embedded Solana runtime open."""


def _hold(directory: Path) -> BinaryIO:
    try:
        return hold_directory(
            directory,
            "the embedded Solana runtime",
            "run the platform as one process (atelier up), or set ATELIER_SOLANA_RPC_URL to "
            "that process's /solana/rpc",
        )
    except DirectoryInUse as exc:
        raise RuntimeInUse(str(exc)) from None


class EmbeddedSolana:
    """LiteSVM with a journal; every call runs under one lock (LiteSVM is not thread-safe)."""

    embedded = True

    def __init__(self, settings: Settings) -> None:
        directory = ensure_private_dir(settings.home / "solana")
        self._lock_file = _hold(directory)
        self.svm = LiteSVM()
        self.lock = threading.Lock()
        self._statuses: dict[str, int] = {}
        self._by_address: dict[str, list[tuple[str, int]]] = {}
        path = directory / "state.journal"
        accounts = self._restore(path)
        self.journal = Journal(path)
        self._blockhash_at = time.monotonic()
        live = sum(len(v) + 45 for v in accounts.values())
        if self.journal.size() > _COMPACT_FACTOR * max(live, 1 << 20):
            self._compact(accounts)

    def _restore(self, path: Path) -> dict[bytes, bytes]:
        accounts: dict[bytes, bytes] = {}
        slot = None
        for op, key, value in replay(path, _OPS):
            if op == _ACCOUNT:
                accounts[key] = value
            elif op == _GONE:
                accounts.pop(key, None)
            elif op == _SLOT:
                (slot,) = struct.unpack("<Q", value)
            else:
                self._index(str(Signature.from_bytes(key)), value)
        for key, value in accounts.items():
            self.svm.set_account(Pubkey.from_bytes(key), Account.from_bytes(value))
        if slot is not None:
            self.svm.warp_to_slot(slot)
            log.info("solana.resumed", slot=slot, accounts=len(accounts))
        return accounts

    def _index(self, signature: str, record: bytes) -> None:
        (slot,) = struct.unpack_from("<Q", record)
        self._statuses[signature] = slot
        for start in range(8, len(record), 32):
            address = str(Pubkey.from_bytes(record[start : start + 32]))
            self._by_address.setdefault(address, []).append((signature, slot))

    def _compact(self, accounts: dict[bytes, bytes]) -> None:
        records = [(_ACCOUNT, key, value) for key, value in accounts.items()]
        records.append((_SLOT, b"", struct.pack("<Q", self.svm.get_clock().slot)))
        self.journal.rewrite(records)
        # The signature index starts again from here: older signatures stay on record in
        # the database of whoever sent them.
        self._statuses.clear()
        self._by_address.clear()

    def close(self) -> None:
        self.journal.close()
        self._lock_file.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self.lock:
                return fn()

        return await asyncio.to_thread(locked)

    # -- the client interface -------------------------------------------------------

    def _current_blockhash(self) -> Blockhash:
        if time.monotonic() - self._blockhash_at > BLOCKHASH_LIFETIME_S:
            self.svm.expire_blockhash()
            self._blockhash_at = time.monotonic()
        slot = self.svm.get_clock().slot
        return Blockhash(self.svm.latest_blockhash(), slot + VALID_BLOCKS)

    async def latest_blockhash(self) -> Blockhash:
        return await self._run(self._current_blockhash)

    def expire_blockhash(self) -> None:
        """Make the current blockhash stale now (what time does on a cluster)."""
        with self.lock:
            self.svm.expire_blockhash()
            self._blockhash_at = time.monotonic()

    def _send(self, transaction: Transaction) -> str:
        self._current_blockhash()
        result = self.svm.send_transaction(transaction)
        if isinstance(result, FailedTransactionMetadata):
            reason = str(result.err())
            logs = result.meta().logs()
            detail = next((line for line in reversed(logs) if "failed" in line), "")
            text = f"{reason}{': ' + detail if detail else ''}"[:500]
            if is_blockhash_error(reason):
                raise BlockhashExpired(text)
            raise TransactionRejected(text)
        signature = str(result.signature())
        slot = self.svm.get_clock().slot
        keys = list(transaction.message.account_keys)
        record = struct.pack("<Q", slot) + b"".join(bytes(k) for k in keys)
        self.journal.append(_TX, bytes(Signature.from_string(signature)), record)
        self._index(signature, record)
        self._persist(keys)
        self.svm.warp_to_slot(slot + 1)
        self.journal.append(_SLOT, b"", struct.pack("<Q", slot + 1))
        self.journal.flush()
        return signature

    def _persist(self, keys: list[Pubkey]) -> None:
        for key in keys:
            account = self.svm.get_account(key)
            if account is None:
                self.journal.append(_GONE, bytes(key))
            elif not account.executable and account.owner != _SYSVAR_OWNER:
                self.journal.append(_ACCOUNT, bytes(key), bytes(account))

    async def send(self, transaction: Transaction) -> str:
        return await self._run(lambda: self._send(transaction))

    async def status(self, signature: str) -> SignatureStatus | None:
        slot = self._statuses.get(signature)
        return None if slot is None else SignatureStatus(slot, "finalized", None)

    def _simulate(self, transaction: Transaction) -> Simulation:
        self._current_blockhash()
        result = self.svm.simulate_transaction(transaction)
        if isinstance(result, FailedTransactionMetadata):
            return Simulation(str(result.err()), list(result.meta().logs()))
        return Simulation(None, list(result.meta().logs()))

    async def simulate(self, transaction: Transaction) -> Simulation:
        return await self._run(lambda: self._simulate(transaction))

    async def account(self, address: Pubkey) -> Account | None:
        return await self._run(lambda: self.svm.get_account(address))

    async def balance(self, address: Pubkey) -> int:
        return await self._run(lambda: int(self.svm.get_balance(address) or 0))

    async def slot(self, commitment: Commitment = "confirmed") -> int:
        return await self._run(lambda: int(self.svm.get_clock().slot))

    async def block_height(self) -> int:
        return await self.slot()

    async def rent_exempt(self, size: int) -> int:
        return await self._run(lambda: int(self.svm.minimum_balance_for_rent_exemption(size)))

    async def signatures_for(
        self, address: Pubkey, *, until: str | None = None, limit: int = 1000
    ) -> list[SignatureInfo]:
        """Newest first, down to (not including) `until`, like getSignaturesForAddress."""
        found: list[SignatureInfo] = []
        for signature, slot in reversed(self._by_address.get(str(address), [])):
            if signature == until or len(found) >= limit:
                break
            found.append(SignatureInfo(signature, slot, None))
        return found

    def _holder(self, mint: Pubkey) -> Pubkey | None:
        for _, account in self.svm.get_program_accounts(TOKEN_PROGRAM):
            holding = parse_token_account(bytes(account.data))
            if holding is not None and holding.mint == mint and holding.amount == 1:
                return holding.owner
        return None

    def _token_accounts(self, mint: Pubkey) -> list[tuple[Pubkey, Account]]:
        found = []
        for address, account in self.svm.get_program_accounts(TOKEN_PROGRAM):
            holding = parse_token_account(bytes(account.data))
            if holding is not None and holding.mint == mint:
                found.append((address, account))
        return found

    async def token_accounts(self, mint: Pubkey) -> list[tuple[Pubkey, Account]]:
        """Every token account of `mint` (getProgramAccounts filtered by the mint)."""
        return await self._run(lambda: self._token_accounts(mint))

    async def token_holders(self, mint: Pubkey) -> dict[Pubkey, int]:
        holders: dict[Pubkey, int] = {}
        for _, account in await self.token_accounts(mint):
            holding = parse_token_account(bytes(account.data))
            if holding is not None and holding.amount > 0:
                holders[holding.owner] = holders.get(holding.owner, 0) + holding.amount
        return holders

    async def holder(self, mint: Pubkey) -> Pubkey | None:
        """The wallet holding an NFT (a scan of every token account: a development runtime)."""
        return await self._run(lambda: self._holder(mint))

    # -- embedded only ------------------------------------------------------------------

    def _airdrop(self, address: Pubkey, lamports: int) -> None:
        result = self.svm.airdrop(address, lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise TransactionRejected(str(result.err()))
        self._persist([address])
        self.journal.flush()

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        """Lamports out of nothing: the platform's own accounts on a fresh runtime, and the
        development faucet. Never reachable from outside the process."""
        await self._run(lambda: self._airdrop(address, lamports))

    async def set_account(self, address: Pubkey, account: Account) -> None:
        """Put an account in place (what a program we cannot run would have written)."""

        def put() -> None:
            self.svm.set_account(address, account)
            self._persist([address])
            self.journal.flush()

        await self._run(put)
