"""One EVM endpoint per process: the embedded eth-tester chain, or a JSON-RPC node.

`ATELIER_CHAIN_RPC_URL=embedded` (the default) runs py-evm in this process, with the
contracts deployed from the platform's own sealed key and the state kept in `$ATELIER_HOME`
across restarts (chain/evm/embedded.py); the API serves its read methods and raw
transactions at `/chain/rpc`, so web3.py or ethers reach it like any node.

web3.py is synchronous and eth-tester is not thread-safe: every call runs in a worker
thread under one lock per chain, so the event loop never blocks on the node.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.datastructures import NamedElementOnion
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ProviderConnectionError,
    Web3Exception,
    Web3RPCError,
)
from web3.types import TxReceipt

from atelier.chain.evm.contracts import (
    Deployment,
    abi_hashes,
    send,
    token_contract,
    voting_contract,
)
from atelier.core.config import Settings
from atelier.core.errors import ServiceUnavailable
from atelier.core.runtime import Runtime
from atelier.core.secrets import read_secret_file

T = TypeVar("T")
EMBEDDED = "embedded"
_ADAPTER = "evm"


class ChainUnavailable(ServiceUnavailable):
    slug = "chain-unavailable"


class ChainNotConfigured(RuntimeError):
    """An external RPC URL without contract addresses (run `atelier chain deploy`)."""


class TransactionReverted(RuntimeError):
    """The node refused a transaction; `error` is the contract's custom error name if known."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(f"{error}{': ' + detail if detail else ''}")
        self.error = error


def revert_data(exc: BaseException) -> bytes | None:
    """The revert payload: web3 gives it as hex in `.data`; eth-tester only inside the text
    of its `TransactionFailed` ("execution reverted: b'...'")."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(exc, TransactionFailed):
        text = str(exc.args[0]) if exc.args else ""
        _, _, payload = text.partition("execution reverted: ")
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(payload)
            if isinstance(value, bytes):
                return value
    return None


def error_name(exc: Exception, abi: Sequence[Any]) -> str:
    """The custom error (`AlreadyVoted`, …) behind a revert, by its 4-byte selector."""
    data = revert_data(exc)
    if data is not None and len(data) >= 4:
        for digest, name in abi_hashes(abi, "error").items():
            if digest[:4] == data[:4]:
                return name
        return f"error 0x{data[:4].hex()}"
    if isinstance(exc, ContractLogicError):
        return str(exc.message or "reverted")
    return str(exc)[:200] or type(exc).__name__


@dataclass
class EvmChain:
    w3: Web3
    deployment: Deployment
    sender: ChecksumAddress
    embedded: bool
    key: LocalAccount | None = None  # None: the node holds `sender` unlocked (a dev node)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # after each call: make the embedded chain's writes durable (its journal)
    after_call: Callable[[], None] | None = field(default=None, repr=False)
    _rpc: Callable[[str, Any], Any] | None = field(default=None, repr=False)

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @property
    def voting(self) -> Contract:
        return voting_contract(self.w3, self.deployment.voting)

    @property
    def token(self) -> Contract:
        return token_contract(self.w3, self.deployment.token)

    async def run(self, fn: Callable[[EvmChain], T]) -> T:
        """Run blocking web3 work off the event loop, one call at a time per chain.

        An unreachable node is a 503 for whoever asked (a request, a task that retries)."""
        try:
            return await asyncio.to_thread(self.locked, fn)
        except (OSError, ProviderConnectionError) as exc:  # requests' errors are OSErrors
            raise ChainUnavailable(f"the chain node does not answer: {exc}") from None
        except Web3RPCError as exc:  # the node answered with an error (not a revert)
            raise ChainUnavailable(f"the chain node refused a request: {exc}") from None

    def locked(self, fn: Callable[[EvmChain], T]) -> T:
        with self.lock:
            try:
                return fn(self)
            finally:
                if self.after_call is not None:
                    self.after_call()

    def transact(self, call: ContractFunction) -> TxReceipt:
        """Send `call` from the relayer and wait for its receipt (call under the lock)."""
        try:  # gas estimation runs the call: a revert surfaces here, with its error
            tx = call.build_transaction({"from": self.sender})
        except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
            raise TransactionReverted(error_name(exc, call.contract_abi)) from None
        try:
            return send(self.w3, tx, self.key)
        except RuntimeError as exc:
            raise TransactionReverted("reverted", str(exc)) from None

    def rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        """Answer one JSON-RPC call as a node would (the embedded chain's `/chain/rpc`):
        camelCase fields, hex quantities, reverts as `{"error": {"code": 3, "data": …}}`.
        Call under the lock."""
        if self._rpc is None:  # the provider's own formatting, without web3's result parsing
            self._rpc = self.w3.provider.request_func(self.w3, NamedElementOnion([]))
        try:
            answer = dict(self._rpc(method, params))
        except TransactionFailed as exc:
            data = revert_data(exc)
            error: dict[str, Any] = {"code": 3, "message": "execution reverted"}
            if data is not None:
                error["data"] = "0x" + data.hex()
            return {"error": error}
        except Exception as exc:  # eth-tester's validation errors: bad params
            return {"error": {"code": -32602, "message": str(exc)[:300]}}
        if "result" in answer:
            answer["result"] = jsonable(answer["result"], hex_quantities=True)
        answer.pop("id", None)
        answer.pop("jsonrpc", None)
        return answer


def jsonable(value: Any, *, hex_quantities: bool = False) -> Any:
    """Chain values as JSON: bytes as 0x-hex; integers as hex quantities for JSON-RPC, or kept
    as numbers (JSONB holds uint256 exactly) when storing decoded event arguments."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and not isinstance(value, bool) and hex_quantities:
        return hex(value)
    if isinstance(value, dict):
        return {k: jsonable(v, hex_quantities=hex_quantities) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, hex_quantities=hex_quantities) for v in value]
    return value


def load_relayer_key(path: Path) -> LocalAccount:
    text = read_secret_file(path, "relayer key")
    try:
        account: LocalAccount = Account.from_key(text.strip())
    except Exception:
        raise ValueError(f"relayer key file {path} does not hold a hex private key") from None
    return account


def use_chain(runtime: Runtime, chain: EvmChain) -> None:
    """Make `chain` the process's chain (operator commands that reach a server's embedded
    chain through its JSON-RPC, with the platform's key)."""
    runtime.adapters[_ADAPTER] = chain


def open_chain(settings: Settings, key: LocalAccount | None = None) -> EvmChain:
    from atelier.chain.evm.embedded import EmbeddedChain, platform_key

    if settings.chain_rpc_url == EMBEDDED:
        embedded = EmbeddedChain(settings)
        return EvmChain(
            embedded.w3,
            embedded.deployment,
            Web3.to_checksum_address(embedded.key.address),
            embedded=True,
            key=embedded.key,
            after_call=embedded.db.flush,
        )
    w3 = Web3(HTTPProvider(settings.chain_rpc_url, request_kwargs={"timeout": 30}))
    if not settings.chain_token_address or not settings.chain_voting_address:
        raise ChainNotConfigured(
            "ATELIER_CHAIN_TOKEN_ADDRESS and ATELIER_CHAIN_VOTING_ADDRESS must be set for "
            f"{settings.chain_rpc_url} (deploy with `atelier chain deploy`)"
        )
    if key is None:  # the operator's key file, else the platform's own sealed key (fund it)
        key = (
            load_relayer_key(settings.chain_relayer_key_file)
            if settings.chain_relayer_key_file
            else platform_key(settings)
        )
    sender = Web3.to_checksum_address(key.address)
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        token=Web3.to_checksum_address(settings.chain_token_address),
        voting=Web3.to_checksum_address(settings.chain_voting_address),
        deploy_block=0,
    )
    return EvmChain(w3, deployment, sender, embedded=False, key=key)


def sender_for(w3: Web3, key: LocalAccount | None) -> ChecksumAddress:
    """Who sends transactions: the key's account, else the node's first unlocked account
    (dev nodes); public nodes hold none, and then a key is required."""
    if key is not None:
        return Web3.to_checksum_address(key.address)
    unlocked = w3.eth.accounts
    if not unlocked:
        raise ChainNotConfigured(
            "the node holds no unlocked account to send from: give the relayer's (or "
            "deployer's) key file (ATELIER_CHAIN_RELAYER_KEY_FILE, --key-file)"
        )
    return Web3.to_checksum_address(unlocked[0])


async def chain_for(runtime: Runtime) -> EvmChain:
    """The process's chain, opened on first use (deploying, when embedded) and kept."""
    from atelier.chain.evm.embedded import ChainInUse

    chain = runtime.adapters.get(_ADAPTER)
    if chain is None:
        opening = runtime.adapters.setdefault(_ADAPTER + ".opening", asyncio.Lock())
        async with opening:
            chain = runtime.adapters.get(_ADAPTER)
            if chain is None:
                try:
                    chain = await asyncio.to_thread(open_chain, runtime.settings)
                except (ChainNotConfigured, ChainInUse, OSError, ValueError, Web3Exception) as exc:
                    raise ChainUnavailable(f"cannot use the chain: {exc}") from None
                runtime.adapters[_ADAPTER] = chain
    assert isinstance(chain, EvmChain)
    return chain
