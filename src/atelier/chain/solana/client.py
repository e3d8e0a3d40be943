"""One Solana endpoint per process, behind one interface: the embedded LiteSVM runtime, or
any JSON-RPC node.

`ATELIER_SOLANA_RPC_URL=embedded` (the default) runs LiteSVM in this process with its state
kept in `$ATELIER_HOME/solana` (chain/solana/embedded.py); the API serves the standard
JSON-RPC methods for it at `/solana/rpc`, so a second process (the task worker) or a wallet
reaches it like any node, through `RpcSolana` below.

What both give: the latest blockhash, sending a signed transaction (a stale blockhash is
`BlockhashExpired`, a failed one `TransactionRejected` with the runtime's reason),
confirmation up to a commitment level (a transaction whose blockhash expires unconfirmed is
`dropped`), simulation, accounts, balances, slots and the signatures that touched an address
(what the indexer follows).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

import httpx
from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from atelier.chain.solana.programs import TOKEN_PROGRAM, parse_token_account
from atelier.core.errors import ServiceUnavailable
from atelier.core.runtime import Runtime

Commitment = Literal["processed", "confirmed", "finalized"]
COMMITMENT_ORDER: dict[str, int] = {"processed": 0, "confirmed": 1, "finalized": 2}
EMBEDDED = "embedded"
_ADAPTER = "solana"


class SolanaUnavailable(ServiceUnavailable):
    slug = "solana-unavailable"


class TransactionRejected(RuntimeError):
    """The runtime refused the transaction (an instruction failed, a signature is missing)."""


class BlockhashExpired(TransactionRejected):
    """The transaction's blockhash is no longer recent: build it again with a fresh one."""


@dataclass(frozen=True)
class Blockhash:
    blockhash: Hash
    last_valid_block_height: int


@dataclass(frozen=True)
class SignatureStatus:
    slot: int
    confirmation: Commitment
    error: str | None


@dataclass(frozen=True)
class SignatureInfo:
    signature: str
    slot: int
    error: str | None


@dataclass(frozen=True)
class Simulation:
    error: str | None
    logs: list[str]


class SolanaClient(Protocol):
    embedded: bool

    async def latest_blockhash(self) -> Blockhash: ...
    async def send(self, transaction: Transaction) -> str: ...
    async def status(self, signature: str) -> SignatureStatus | None: ...
    async def simulate(self, transaction: Transaction) -> Simulation: ...
    async def account(self, address: Pubkey) -> Account | None: ...
    async def balance(self, address: Pubkey) -> int: ...
    async def slot(self, commitment: Commitment = "confirmed") -> int: ...
    async def block_height(self) -> int: ...
    async def rent_exempt(self, size: int) -> int: ...
    async def signatures_for(
        self, address: Pubkey, *, until: str | None = None, limit: int = 1000
    ) -> list[SignatureInfo]: ...
    async def holder(self, mint: Pubkey) -> Pubkey | None: ...
    async def token_holders(self, mint: Pubkey) -> dict[Pubkey, int]: ...


def is_blockhash_error(text: str) -> bool:
    return "blockhash not found" in text.lower() or "blockhashnotfound" in text.lower()


class RpcSolana:
    """A Solana JSON-RPC node (or an Atelier's `/solana/rpc`), over HTTP."""

    embedded = False

    def __init__(
        self,
        url: str,
        commitment: Commitment = "confirmed",
        timeout: float = 30,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, self.commitment = url, commitment
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._ids = 0

    async def call(self, method: str, params: list[Any]) -> Any:
        self._ids += 1
        request = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        try:
            response = await self._http.post(self.url, json=request)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SolanaUnavailable(f"the Solana node does not answer: {exc}") from None
        if not isinstance(answer, dict):
            raise SolanaUnavailable("the Solana node answered something that is not JSON-RPC")
        if "error" in answer:
            message = str(answer["error"].get("message", answer["error"]))[:500]
            if is_blockhash_error(message):
                raise BlockhashExpired(message)
            if method in ("sendTransaction",):
                raise TransactionRejected(message)
            raise SolanaUnavailable(f"the Solana node refused {method}: {message}")
        return answer.get("result")

    async def latest_blockhash(self) -> Blockhash:
        result = await self.call("getLatestBlockhash", [{"commitment": self.commitment}])
        value = result["value"]
        return Blockhash(Hash.from_string(value["blockhash"]), int(value["lastValidBlockHeight"]))

    async def send(self, transaction: Transaction) -> str:
        encoded = base64.b64encode(bytes(transaction)).decode()
        options = {"encoding": "base64", "preflightCommitment": self.commitment}
        return str(await self.call("sendTransaction", [encoded, options]))

    async def status(self, signature: str) -> SignatureStatus | None:
        result = await self.call(
            "getSignatureStatuses", [[signature], {"searchTransactionHistory": True}]
        )
        found = result["value"][0]
        if found is None:
            return None
        error = found.get("err")
        return SignatureStatus(
            int(found["slot"]),
            found.get("confirmationStatus") or "processed",
            None if error is None else str(error),
        )

    async def simulate(self, transaction: Transaction) -> Simulation:
        encoded = base64.b64encode(bytes(transaction)).decode()
        options = {"encoding": "base64", "sigVerify": True, "commitment": self.commitment}
        value = (await self.call("simulateTransaction", [encoded, options]))["value"]
        error = value.get("err")
        return Simulation(None if error is None else str(error), list(value.get("logs") or []))

    async def account(self, address: Pubkey) -> Account | None:
        options = {"encoding": "base64", "commitment": self.commitment}
        value = (await self.call("getAccountInfo", [str(address), options]))["value"]
        if value is None:
            return None
        return Account(
            lamports=int(value["lamports"]),
            data=base64.b64decode(value["data"][0]),
            owner=Pubkey.from_string(value["owner"]),
            executable=bool(value["executable"]),
            rent_epoch=int(value.get("rentEpoch") or 0) % 2**64,
        )

    async def balance(self, address: Pubkey) -> int:
        result = await self.call("getBalance", [str(address), {"commitment": self.commitment}])
        return int(result["value"])

    async def slot(self, commitment: Commitment = "confirmed") -> int:
        return int(await self.call("getSlot", [{"commitment": commitment}]))

    async def block_height(self) -> int:
        return int(await self.call("getBlockHeight", [{"commitment": self.commitment}]))

    async def rent_exempt(self, size: int) -> int:
        return int(await self.call("getMinimumBalanceForRentExemption", [size]))

    async def signatures_for(
        self, address: Pubkey, *, until: str | None = None, limit: int = 1000
    ) -> list[SignatureInfo]:
        options: dict[str, Any] = {"limit": limit, "commitment": self.commitment}
        if until:
            options["until"] = until
        result = await self.call("getSignaturesForAddress", [str(address), options])
        return [
            SignatureInfo(
                r["signature"], int(r["slot"]), None if r.get("err") is None else str(r["err"])
            )
            for r in result
        ]

    async def holder(self, mint: Pubkey) -> Pubkey | None:
        """The wallet whose token account holds an NFT (its largest holding)."""
        result = await self.call(
            "getTokenLargestAccounts", [str(mint), {"commitment": self.commitment}]
        )
        held = [a for a in result["value"] if str(a.get("amount")) == "1"]
        if not held:
            return None
        account = await self.account(Pubkey.from_string(held[0]["address"]))
        holding = parse_token_account(bytes(account.data)) if account else None
        return holding.owner if holding else None

    async def token_holders(self, mint: Pubkey) -> dict[Pubkey, int]:
        """Every wallet holding some of `mint`, with how much (getProgramAccounts over the
        token program, filtered by the mint; a governance snapshot)."""
        options = {
            "encoding": "base64",
            "commitment": self.commitment,
            "filters": [{"dataSize": 165}, {"memcmp": {"offset": 0, "bytes": str(mint)}}],
        }
        result = await self.call("getProgramAccounts", [str(TOKEN_PROGRAM), options])
        holders: dict[Pubkey, int] = {}
        for entry in result:
            holding = parse_token_account(base64.b64decode(entry["account"]["data"][0]))
            if holding is not None and holding.mint == mint and holding.amount > 0:
                holders[holding.owner] = holders.get(holding.owner, 0) + holding.amount
        return holders

    async def close(self) -> None:
        await self._http.aclose()


def sign(message: Message, signers: list[Keypair], blockhash: Hash) -> Transaction:
    return Transaction(signers, message, blockhash)


async def send_fresh(
    client: SolanaClient,
    build: Callable[[Hash], Transaction],
    *,
    commitment: Commitment = "confirmed",
    attempts: int = 3,
) -> str:
    """Send a transaction the platform signs itself, rebuilt on a fresh blockhash when the
    one it used went stale, and wait until it reaches `commitment`."""
    for attempt in range(attempts):
        recent = await client.latest_blockhash()
        try:
            signature = await client.send(build(recent.blockhash))
        except BlockhashExpired:
            if attempt == attempts - 1:
                raise
            continue
        outcome = await confirm(client, signature, recent.last_valid_block_height, commitment)
        if outcome == "dropped" and attempt < attempts - 1:
            continue
        if outcome == "dropped":
            raise TransactionRejected("the transaction was dropped before it confirmed")
        return signature
    raise TransactionRejected("no attempt left")  # pragma: no cover - the loop returns


async def confirm(
    client: SolanaClient,
    signature: str,
    last_valid_block_height: int,
    commitment: Commitment = "confirmed",
    *,
    poll_s: float = 0.4,
) -> Literal["confirmed", "dropped"]:
    """Wait until `signature` reaches `commitment` ("confirmed"), or its blockhash expires
    without it ("dropped": it will never land). A failed transaction raises."""
    while True:
        status = await client.status(signature)
        if status is not None:
            if status.error is not None:
                raise TransactionRejected(status.error)
            if COMMITMENT_ORDER[status.confirmation] >= COMMITMENT_ORDER[commitment]:
                return "confirmed"
        elif await client.block_height() > last_valid_block_height:
            return "dropped"
        await asyncio.sleep(poll_s)


def cluster_id(settings: Any) -> str:
    """CAIP-2: the cluster transactions are for (the embedded runtime is its own)."""
    if settings.solana_rpc_url == EMBEDDED:
        return "solana:atelier-embedded"
    return str(settings.solana_cluster)


def open_client(settings: Any) -> SolanaClient:
    from atelier.chain.solana.embedded import EmbeddedSolana

    if settings.solana_rpc_url == EMBEDDED:
        return EmbeddedSolana(settings)
    return RpcSolana(settings.solana_rpc_url, settings.solana_commitment)


async def solana_for(runtime: Runtime) -> SolanaClient:
    """The process's Solana endpoint, opened on first use and kept."""
    from atelier.chain.solana.embedded import RuntimeInUse

    client = runtime.adapters.get(_ADAPTER)
    if client is None:
        opening = runtime.adapters.setdefault(_ADAPTER + ".opening", asyncio.Lock())
        async with opening:
            client = runtime.adapters.get(_ADAPTER)
            if client is None:
                try:
                    client = await asyncio.to_thread(open_client, runtime.settings)
                except (RuntimeInUse, OSError, ValueError) as exc:
                    raise SolanaUnavailable(f"cannot use Solana: {exc}") from None
                runtime.adapters[_ADAPTER] = client
    return cast(SolanaClient, client)
