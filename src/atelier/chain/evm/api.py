"""The chain Atelier uses: `GET /api/chain`, and the embedded chain's JSON-RPC endpoint."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from atelier.chain.evm.client import EvmChain, chain_for
from atelier.core.errors import Forbidden, NotFound
from atelier.core.http import json_rpc_calls, on_this_machine, runtime_of

router = APIRouter(tags=["chain"])


@router.get("/api/chain")
async def chain_info(request: Request) -> dict[str, Any]:
    """Chain id, contract addresses and head: what a wallet or script needs to vote."""
    runtime = runtime_of(request)
    chain = await chain_for(runtime)
    head = await chain.run(lambda c: int(c.w3.eth.block_number))
    return {
        "chain_id": chain.chain_id,
        "embedded": chain.embedded,
        "head": head,
        "token": chain.deployment.token,
        "voting": chain.deployment.voting,
        "rpc_url": f"{runtime.settings.origin}/chain/rpc"
        if chain.embedded
        else runtime.settings.chain_rpc_url,
        "confirmations": runtime.settings.chain_confirmations,
        "relayer": chain.sender,
    }


# What anyone on this machine may ask the embedded chain: reads, and transactions they signed
# themselves. Test and admin methods (evm_*, testing_*, personal_*), and anything that would
# use an account the node holds (eth_sendTransaction, eth_sign*), are refused: the node's
# accounts are not theirs, and the platform's key never leaves the server.
READ_METHODS = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "eth_maxPriorityFeePerGas",
        "eth_syncing",
        "net_listening",
        "net_version",
        "web3_clientVersion",
        "eth_sendRawTransaction",
    }
)


@router.post("/chain/rpc")
async def embedded_rpc(request: Request) -> JSONResponse:
    """JSON-RPC for the embedded development chain, for clients on this machine only: read
    methods and `eth_sendRawTransaction`; `eth_accounts` is empty. Absent when Atelier uses an
    external node or runs in production."""
    runtime = runtime_of(request)
    if runtime.settings.chain_rpc_url != "embedded" or runtime.settings.env == "production":
        raise NotFound(
            "this Atelier uses an external chain; see GET /api/chain", slug="no-embedded-chain"
        )
    if not on_this_machine(request):
        raise Forbidden("the embedded chain serves this machine only", slug="not-local")
    calls, batch = await json_rpc_calls(request, 100)
    chain = await chain_for(runtime)
    answers = []
    for call in calls:
        method, params = call["method"], call.get("params") or []
        if method == "eth_accounts":
            answer: dict[str, Any] = {"result": []}
        elif method not in READ_METHODS or not isinstance(params, list):
            refused = f"method {method[:60]!r} is not available on this node (reads and "
            answer = {"error": {"code": -32601, "message": refused + "eth_sendRawTransaction)"}}
        else:
            answer = await chain.run(partial(EvmChain.rpc, method=method, params=params))
        answers.append({"jsonrpc": "2.0", "id": call.get("id"), **answer})
    return JSONResponse(answers if batch else answers[0])
