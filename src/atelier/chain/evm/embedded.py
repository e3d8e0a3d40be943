"""The embedded development chain: py-evm in this process, kept across restarts.

- **Its own key.** The platform deploys, owns and relays from a key generated on first run
  and kept sealed (AES-256-GCM under the wallet key, `secrets/chain-platform.key`), funded at
  genesis. eth-tester's ten unlocked accounts still exist inside the process (tests use them)
  but nothing outside reaches them: `/chain/rpc` passes only read methods and
  `eth_sendRawTransaction` (chain/evm/api.py).
- **Its state survives a restart.** Every write py-evm makes to its key-value store is
  appended to `chain/state.journal` in `$ATELIER_HOME` (framed records with a CRC); a restart
  replays the journal and continues from the same head, with the same block hashes, so the
  indexer sees no reorg and confirmed votes stay confirmed. A record cut short by a crash is
  dropped on the next start. The journal is compacted when it grows to several times the
  live state. The contract addresses are in `chain/deployment.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from atelier.chain.evm.contracts import Deployment, deploy
from atelier.core.config import Settings
from atelier.core.journal import DirectoryInUse, Journal, hold_directory, replay
from atelier.core.limits import pin_recursion_limit
from atelier.core.logging import get_logger
from atelier.core.secrets import ensure_private_dir, seal, unseal, write_private_file

log = get_logger(__name__)

# What the platform's key holds at genesis (gas for deploys, mirrors and relays) and the
# SoulvanCoin treasury it mints itself at deployment.
GENESIS_ETHER = 10**9 * 10**18
EMBEDDED_SUPPLY = 1_000_000 * 10**18
_SET, _DELETE = b"S", b"D"
_COMPACT_FACTOR = 4


class JournaledDB(MemoryDB):
    """py-evm's in-memory store, with every write also appended to a journal file."""

    def __init__(self, path: Path) -> None:
        state: dict[bytes, bytes] = {}
        for op, key, value in replay(path, frozenset({_SET, _DELETE})):
            if op == _SET:
                state[key] = value
            else:
                state.pop(key, None)
        super().__init__(state)
        self.path = path
        self._journal = Journal(path)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, value)
        self._journal.append(_SET, key, value)

    def __delitem__(self, key: bytes) -> None:
        super().__delitem__(key)
        self._journal.append(_DELETE, key)

    def flush(self) -> None:
        """Make what was written durable (after each call into the chain that wrote)."""
        self._journal.flush()

    def compact_if_large(self) -> None:
        """Rewrite the journal as one record per live key once it is mostly history."""
        live = sum(len(k) + len(v) + 13 for k, v in self.kv_store.items())
        if self._journal.size() > _COMPACT_FACTOR * max(live, 1 << 20):
            self._journal.rewrite((_SET, k, v) for k, v in self.kv_store.items())


class NoPlatformKey(RuntimeError):
    pass


def platform_key(settings: Settings, *, create: bool = True) -> LocalAccount:
    """The platform's chain key: created on first use (by the server), kept only sealed.
    Operator commands on the same machine (same `ATELIER_HOME`) unseal it; elsewhere they
    say so (`create=False`) rather than make a stranger key."""
    path = settings.secrets_dir / "chain-platform.key"
    if path.exists():
        sealed = json.loads(path.read_text())
        secret = unseal(settings, sealed["address"], bytes.fromhex(sealed["sealed"]))
        account: LocalAccount = Account.from_key(secret)
        return account
    if not create:
        raise NoPlatformKey(
            f"{path} does not exist: run this where the server's ATELIER_HOME is, or give "
            "--key-file"
        )
    account = Account.create()
    sealed_key = seal(settings, account.address, bytes(account.key))
    record = {"address": account.address, "sealed": sealed_key.hex()}
    write_private_file(path, json.dumps(record).encode())
    return account


class ChainInUse(DirectoryInUse):
    """Another process has this home's embedded chain open."""


def _hold(directory: Path) -> BinaryIO:
    try:
        return hold_directory(
            directory,
            "the embedded chain",
            "run the platform as one process (atelier up), or set ATELIER_CHAIN_RPC_URL to that "
            "process's /chain/rpc (with ATELIER_CHAIN_TOKEN_ADDRESS and "
            "ATELIER_CHAIN_VOTING_ADDRESS)",
        )
    except DirectoryInUse as exc:
        raise ChainInUse(str(exc)) from None


class EmbeddedChain:
    """The web3 handle of the embedded chain and the journal behind it."""

    def __init__(self, settings: Settings) -> None:
        directory = ensure_private_dir(settings.home / "chain")
        self._lock = _hold(directory)
        self.key = platform_key(settings)
        self.db = JournaledDB(directory / "state.journal")
        deployment_file = directory / "deployment.json"
        backend = PyEVMBackend(genesis_state=self._genesis_state())
        fresh = not self.db.kv_store or not deployment_file.exists()
        if fresh and self.db.kv_store:  # a journal without its deployment: start over
            log.warning("chain.journal_without_deployment", path=str(directory))
            self.db.kv_store.clear()
            self.db.path.write_bytes(b"")
        chain_class = type(backend.chain)
        base = AtomicDB(self.db)
        if fresh:
            genesis = PyEVMBackend.generate_genesis_params()
            backend.chain = chain_class.from_genesis(base, genesis, self._genesis_state())
        else:
            backend.chain = chain_class(base)
        self.w3 = Web3(EthereumTesterProvider(EthereumTester(backend=backend)))
        pin_recursion_limit()  # py-evm and py_ecc raise it at import (core.limits)
        if fresh:
            self.deployment = deploy(
                self.w3,
                self.key.address,
                initial_supply=EMBEDDED_SUPPLY,
                voting_period_s=settings.governance_job_window_s,
                quorum=settings.governance_job_quorum,
                key=self.key,
            )
            self.db.flush()
            write_private_file(deployment_file, json.dumps(asdict(self.deployment)).encode())
        else:
            self.deployment = Deployment(**json.loads(deployment_file.read_text()))
            log.info("chain.resumed", head=self.w3.eth.block_number)
        self.db.compact_if_large()

    def close(self) -> None:
        """Flush the journal and let another process (or a later open) have the chain."""
        self.db.flush()
        self._lock.close()

    def _genesis_state(self) -> dict[bytes, dict[str, Any]]:
        """eth-tester's ten accounts as usual, and the platform's key funded."""
        state = PyEVMBackend.generate_genesis_state(num_accounts=10)
        state[bytes.fromhex(self.key.address[2:])] = {
            "balance": GENESIS_ETHER,
            "storage": {},
            "code": b"",
            "nonce": 0,
        }
        return dict(state)
