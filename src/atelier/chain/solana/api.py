"""The Solana runtime Atelier uses: `GET /api/solana`, and the embedded runtime's JSON-RPC.

`/solana/rpc` answers the standard methods a wallet, solana-py or web3.js need (reads,
simulation, `sendTransaction` of transactions the caller signed), for this machine only and
only for the embedded runtime of a development Atelier (no public URL). Like devnet's, its
`requestAirdrop` hands out test SOL (at most 100 SOL a call): lamports of a runtime that
lives on this machine only.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from atelier.chain.solana.client import (
    SolanaClient,
    TransactionRejected,
    cluster_id,
    solana_for,
)
from atelier.chain.solana.programs import TOKEN_PROGRAM, associated_token_address
from atelier.core.errors import Forbidden, NotFound
from atelier.core.http import json_rpc_calls, on_this_machine, runtime_of

router = APIRouter(tags=["chain"])
MAX_CALLS = 100
MAX_TRANSACTION_BYTES = 1232  # a packet: the most a Solana transaction can be
# The development faucet, as devnet's: test SOL for a wallet of one's own on this machine.
MAX_AIRDROP = 100 * 10**9


@router.get("/api/solana")
async def solana_info(request: Request) -> dict[str, Any]:
    """Which Solana runtime this Atelier settles on, its slot, and where to reach it."""
    runtime = runtime_of(request)
    client = await solana_for(runtime)
    settings = runtime.settings
    return {
        "embedded": client.embedded,
        "slot": await client.slot(),
        "rpc_url": f"{settings.origin}/solana/rpc" if client.embedded else settings.solana_rpc_url,
        "commitment": settings.solana_commitment,
        "cluster": cluster_id(settings),
    }


class _BadParams(ValueError):
    pass


def _transaction(params: list[Any]) -> Transaction:
    if not params or not isinstance(params[0], str):
        raise _BadParams("the first parameter is the transaction")
    options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
    try:
        if options.get("encoding", "base58") == "base64":
            raw = base64.b64decode(params[0], validate=True)
        else:
            from base58 import b58decode

            raw = b58decode(params[0])
        if len(raw) > MAX_TRANSACTION_BYTES:
            raise _BadParams("a transaction is at most 1232 bytes")
        return Transaction.from_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise _BadParams(f"not a transaction: {str(exc)[:100]}") from None


def _address(params: list[Any]) -> Pubkey:
    if not params or not isinstance(params[0], str):
        raise _BadParams("the first parameter is an address")
    try:
        return Pubkey.from_string(params[0])
    except ValueError:
        raise _BadParams("not a base58 address") from None


def _context(slot: int, value: Any) -> dict[str, Any]:
    return {"context": {"slot": slot}, "value": value}


async def _answer(client: SolanaClient, method: str, params: list[Any]) -> Any:  # noqa: C901
    slot = await client.slot()
    if method == "getLatestBlockhash":
        recent = await client.latest_blockhash()
        return _context(
            slot,
            {
                "blockhash": str(recent.blockhash),
                "lastValidBlockHeight": recent.last_valid_block_height,
            },
        )
    if method == "sendTransaction":
        return await client.send(_transaction(params))
    if method == "simulateTransaction":
        simulated = await client.simulate(_transaction(params))
        return _context(slot, {"err": simulated.error, "logs": simulated.logs})
    if method == "getSignatureStatuses":
        wanted = params[0] if params and isinstance(params[0], list) else None
        if wanted is None or len(wanted) > 256 or not all(isinstance(s, str) for s in wanted):
            raise _BadParams("a list of at most 256 signatures")
        statuses = [await client.status(signature) for signature in wanted]
        return _context(
            slot,
            [
                None
                if s is None
                else {
                    "slot": s.slot,
                    "confirmations": None,
                    "err": s.error,
                    "confirmationStatus": s.confirmation,
                }
                for s in statuses
            ],
        )
    if method == "getAccountInfo":
        account = await client.account(_address(params))
        if account is None:
            return _context(slot, None)
        return _context(slot, _account_json(account))
    if method == "getBalance":
        return _context(slot, await client.balance(_address(params)))
    if method in ("getSlot", "getBlockHeight"):
        return slot
    if method == "getMinimumBalanceForRentExemption":
        size = params[0] if params else None
        if not isinstance(size, int) or not 0 <= size <= 10 * 1024 * 1024:
            raise _BadParams("an account size in bytes (at most 10 MiB)")
        return await client.rent_exempt(size)
    if method == "getSignaturesForAddress":
        options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        limit = options.get("limit", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise _BadParams("limit is between 1 and 1000")
        until = options.get("until") if isinstance(options.get("until"), str) else None
        found = await client.signatures_for(_address(params), until=until, limit=limit)
        return [
            {
                "signature": f.signature,
                "slot": f.slot,
                "err": f.error,
                "memo": None,
                "blockTime": None,
                "confirmationStatus": "finalized",
            }
            for f in found
        ]
    if method == "getTokenLargestAccounts":
        owner = await client.holder(_address(params))
        if owner is None:
            return _context(slot, [])
        holding = associated_token_address(owner, _address(params))
        return _context(
            slot,
            [
                {
                    "address": str(holding),
                    "amount": "1",
                    "decimals": 0,
                    "uiAmount": 1,
                    "uiAmountString": "1",
                }
            ],
        )
    if method == "requestAirdrop":
        airdrop = getattr(client, "airdrop", None)
        lamports = params[1] if len(params) > 1 else None
        if airdrop is None:
            raise _BadParams("this runtime has no faucet")
        if not isinstance(lamports, int) or not 0 < lamports <= MAX_AIRDROP:
            raise _BadParams(f"an airdrop is 1 to {MAX_AIRDROP} lamports")
        await airdrop(_address(params), lamports)
        return f"airdrop:{params[0]}:{lamports}"
    if method == "getProgramAccounts":
        return await _token_accounts(client, params)
    if method == "getHealth":
        return "ok"
    if method == "getVersion":
        return {"solana-core": "litesvm", "feature-set": 0}
    return None


async def _token_accounts(client: SolanaClient, params: list[Any]) -> list[dict[str, Any]]:
    """getProgramAccounts for the one question asked of it here: the token accounts of a
    mint (`filters`: a memcmp of the mint at offset 0, and dataSize 165)."""
    program = _address(params)
    options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
    given = options.get("filters")
    filters: list[Any] = given if isinstance(given, list) else []
    mints = [
        f["memcmp"].get("bytes")
        for f in filters
        if isinstance(f, dict)
        and isinstance(f.get("memcmp"), dict)
        and f["memcmp"].get("offset") == 0
    ]
    accounts = getattr(client, "token_accounts", None)
    if program != TOKEN_PROGRAM or len(mints) != 1 or accounts is None:
        raise _BadParams("only the token accounts of one mint (a memcmp at offset 0) are served")
    found = await accounts(_address([mints[0]]))
    return [
        {"pubkey": str(address), "account": _account_json(account)} for address, account in found
    ]


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "lamports": account.lamports,
        "owner": str(account.owner),
        "data": [base64.b64encode(bytes(account.data)).decode(), "base64"],
        "executable": account.executable,
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


METHODS = frozenset(
    {
        "getLatestBlockhash",
        "sendTransaction",
        "simulateTransaction",
        "getSignatureStatuses",
        "getAccountInfo",
        "getBalance",
        "getSlot",
        "getBlockHeight",
        "getMinimumBalanceForRentExemption",
        "getSignaturesForAddress",
        "getHealth",
        "getVersion",
        "getTokenLargestAccounts",
        "requestAirdrop",
        "getProgramAccounts",
    }
)


@router.post("/solana/rpc")
async def embedded_solana_rpc(request: Request) -> JSONResponse:
    """JSON-RPC for the embedded Solana runtime, for clients on this machine only."""
    runtime = runtime_of(request)
    settings = runtime.settings
    if (
        settings.solana_rpc_url != "embedded"
        or settings.env == "production"
        or settings.public_url is not None
    ):
        raise NotFound(
            "this Atelier uses a Solana cluster; see GET /api/solana", slug="no-embedded-solana"
        )
    if not on_this_machine(request):
        raise Forbidden("the embedded Solana runtime serves this machine only", slug="not-local")
    calls, batch = await json_rpc_calls(request, MAX_CALLS)
    client = await solana_for(runtime)
    answers = []
    for call in calls:
        method, params = call["method"], call.get("params") or []
        answer: dict[str, Any]
        if method not in METHODS or not isinstance(params, list):
            answer = {"error": {"code": -32601, "message": f"method {method[:60]!r} not offered"}}
        else:
            try:
                answer = {"result": await _answer(client, method, params)}
            except _BadParams as exc:
                answer = {"error": {"code": -32602, "message": str(exc)}}
            except TransactionRejected as exc:
                answer = {"error": {"code": -32002, "message": str(exc)}}
        answers.append({"jsonrpc": "2.0", "id": call.get("id"), **answer})
    return JSONResponse(answers if batch else answers[0])
