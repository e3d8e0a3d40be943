"""The chain Atelier uses: `GET /api/chain`, and the embedded chain's JSON-RPC endpoint."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from atelier.chain.evm.client import EvmChain, chain_for
from atelier.core.errors import InvalidInput, NotFound
from atelier.core.http import runtime_of

router = APIRouter(tags=["chain"])


@router.get("/api/chain")
async def chain_info(request: Request) -> dict[str, Any]:
    """Chain id, contract addresses and head: what a wallet or script needs to vote."""
    runtime = runtime_of(request)
    chain = await chain_for(runtime)
    head = await chain.run(lambda c: int(c.w3.eth.block_number))
    return {
        "chain_id": chain.chain_id, "embedded": chain.embedded, "head": head,
        "token": chain.deployment.token, "voting": chain.deployment.voting,
        "rpc_url": f"{runtime.settings.origin}/chain/rpc" if chain.embedded
        else runtime.settings.chain_rpc_url,
        "confirmations": runtime.settings.chain_confirmations,
    }  # fmt: skip


@router.post("/chain/rpc")
async def embedded_rpc(request: Request) -> JSONResponse:
    """JSON-RPC for the embedded development chain (like a local Hardhat/Anvil node: its test
    accounts are unlocked). Absent when Atelier uses an external node or runs in production."""
    runtime = runtime_of(request)
    if runtime.settings.chain_rpc_url != "embedded" or runtime.settings.env == "production":
        raise NotFound("this Atelier uses an external chain; see GET /api/chain",
                       slug="no-embedded-chain")  # fmt: skip
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("a JSON-RPC request body is JSON", slug="invalid-json-rpc") from None
    calls = body if isinstance(body, list) else [body]
    if not calls or not all(
        isinstance(c, dict) and isinstance(c.get("method"), str) for c in calls
    ):
        raise InvalidInput("each call needs a method", slug="invalid-json-rpc")
    chain = await chain_for(runtime)
    answers = []
    for call in calls:
        params = call.get("params") or []
        answer = await chain.run(partial(EvmChain.rpc, method=call["method"], params=params))
        answers.append({"jsonrpc": "2.0", "id": call.get("id"), **answer})
    return JSONResponse(answers if isinstance(body, list) else answers[0])
