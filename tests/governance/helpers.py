"""Voting as a wallet outside Atelier would: fetch typed data, sign it with eth-account, post."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typing_extensions import override

from atelier.chain.evm.client import EvmChain, chain_for
from atelier.core.runtime import Runtime
from tests.grid.helpers import account_with_key, session_for
from tests.helpers import bearer, eth_sign
from tests.servers import JsonHandler, stand_in


def sign(account: LocalAccount, typed: dict[str, Any]) -> str:
    return "0x" + Account.sign_typed_data(account.key, full_message=typed).signature.hex()


async def proposal(
    client: httpx.AsyncClient, token: str, *, seconds: float = 600, **fields: Any
) -> dict[str, Any]:
    body = {
        "title": "Paint the truck chrome?",
        "ends_at": (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(),
        **fields,
    }
    response = await client.post("/api/proposals", headers=bearer(token), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def typed_data(
    client: httpx.AsyncClient,
    some_id: str,
    wallet: str,
    vote: str,
    reason: str = "",
    timestamp: int | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"wallet": wallet, "vote": vote, "reason": reason}
    if timestamp is not None:
        params["timestamp"] = timestamp
    response = await client.get(f"/api/vote/{some_id}/typed-data", params=params)
    assert response.status_code == 200, response.text
    typed: dict[str, Any] = response.json()
    return typed


async def signed_vote(
    client: httpx.AsyncClient,
    some_id: str,
    account: LocalAccount,
    vote: str,
    reason: str = "",
    timestamp: int | None = None,
    key: str = "proposal_id",
) -> dict[str, Any]:
    typed = await typed_data(client, some_id, account.address, vote, reason, timestamp)
    return {
        key: some_id,
        "wallet": account.address,
        "vote": vote,
        "reason": reason,
        "timestamp": typed["message"]["timestamp"],
        "signature": sign(account, typed),
    }


async def give_tokens(runtime: Runtime, to: str, amount: int) -> int:
    """Transfer SoulvanCoin from the embedded chain's treasury; returns the block number."""
    chain = await chain_for(runtime)

    def transfer(c: EvmChain) -> int:
        receipt = c.transact(c.token.functions.transfer(to, amount))
        return int(receipt["blockNumber"])

    return await chain.run(transfer)


class _Node(JsonHandler):
    """A JSON-RPC node as public ones are: no unlocked accounts; with `broken`, it answers
    every call with an error (a node missing state, a provider refusing)."""

    broken = False

    @override
    def do_POST(self) -> None:
        call: Any = self.body()
        if type(self).broken:
            answer = {"error": {"code": -32000, "message": "missing trie node"}}
        else:
            results = {"eth_chainId": "0x539", "eth_accounts": [], "eth_blockNumber": "0x10"}
            answer = {"result": results.get(call["method"])}
        self.answer({"jsonrpc": "2.0", "id": call["id"], **answer})


def external_node(*, broken: bool = False) -> AbstractContextManager[str]:
    return stand_in(type("Node", (_Node,), {"broken": broken}))


async def validator_key(runtime: Runtime) -> str:
    """An API key of a validator: their proposals are mirrored on chain (the relayer pays)."""
    _, key = await account_with_key(runtime, ["creator", "validator"])
    return key


async def verified_voter(client: httpx.AsyncClient, runtime: Runtime) -> LocalAccount:
    """A fresh wallet, linked (in a signed-in session) to an account with a verified email:
    its votes count under `verified-wallets` and are relayed."""
    user_id, _ = await account_with_key(runtime)
    session = bearer(await session_for(runtime, user_id))
    account: LocalAccount = Account.create()
    challenge = await client.post(
        "/api/v1/user/wallets/challenge",
        headers=session,
        json={"chain": "evm", "address": account.address},
    )
    message = challenge.json()["message"]
    linked = await client.post(
        "/api/v1/user/wallets",
        headers=session,
        json={"chain": "evm", "message": message, "signature": eth_sign(account, message)},
    )
    assert linked.status_code == 201, linked.text
    return account
