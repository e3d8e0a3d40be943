"""The embedded chain: its own sealed key, its state across restarts, and a JSON-RPC endpoint
that lends no one its accounts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from atelier.chain.evm.embedded import ChainInUse, EmbeddedChain
from atelier.core.runtime import Runtime
from atelier.server.app import create_app
from tests.conftest import make_settings
from tests.servers import atelier_env, free_port, stop, wait_healthy


def test_the_platform_key_is_sealed_and_owns_the_contracts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "postgresql://unused")
    chain = EmbeddedChain(settings)
    stored = (tmp_path / "secrets" / "chain-platform.key").read_text()
    assert chain.key.key.hex()[2:] not in stored and bytes(chain.key.key).hex() not in stored
    voting = chain.w3.eth.contract(
        address=chain.deployment.voting,
        abi=[
            {
                "name": "owner",
                "type": "function",
                "inputs": [],
                "outputs": [{"type": "address"}],
                "stateMutability": "view",
            }
        ],
    )
    assert voting.functions.owner().call() == chain.key.address
    assert chain.key.address not in chain.w3.eth.accounts  # not one the node lends


def test_state_survives_a_restart_with_the_same_blocks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "postgresql://unused")
    first = EmbeddedChain(settings)
    friend = Account.create().address
    tx = {
        "to": friend,
        "value": 12345,
        "gas": 21000,
        "chainId": first.w3.eth.chain_id,
        "nonce": first.w3.eth.get_transaction_count(first.key.address),
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 1,
    }
    first.w3.eth.send_raw_transaction(first.key.sign_transaction(tx).raw_transaction)
    head = first.w3.eth.get_block("latest")
    with pytest.raises(ChainInUse):  # one process's chain: a second opener is refused
        EmbeddedChain(settings)
    first.close()

    again = EmbeddedChain(settings)
    assert again.deployment == first.deployment
    assert again.w3.eth.get_block("latest")["hash"] == head["hash"]
    assert again.w3.eth.get_balance(friend) == 12345
    again.close()
    journal = tmp_path / "chain" / "state.journal"
    with journal.open("ab") as torn:  # a crash mid-record: the tail is dropped, nothing else
        torn.write(b"S\x05\x00")
    third = EmbeddedChain(settings)
    assert third.w3.eth.get_block("latest")["hash"] == head["hash"]


METHODS_REFUSED = [
    "eth_sendTransaction",
    "eth_sign",
    "eth_signTypedData_v4",
    "evm_snapshot",
    "evm_mine",
    "testing_timeTravel",
    "personal_unlockAccount",
    "personal_sendTransaction",
    "eth_signTransaction",
]


async def test_the_rpc_endpoint_lends_no_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Anyone could move the token supply, vote from any account, or travel in time."""
    for method in METHODS_REFUSED:
        answer = (
            await client.post("/chain/rpc", json={"id": 1, "method": method, "params": []})
        ).json()
        assert answer["error"]["code"] == -32601, (method, answer)
    accounts = (await client.post("/chain/rpc", json={"id": 2, "method": "eth_accounts"})).json()
    assert accounts["result"] == []
    unfunded = Account.create()
    raw = unfunded.sign_transaction(
        {
            "to": unfunded.address,
            "value": 1,
            "gas": 21000,
            "chainId": (await client.get("/api/chain")).json()["chain_id"],
            "nonce": 0,
            "gasPrice": 10**9,
        }
    ).raw_transaction
    sent = (
        await client.post(
            "/chain/rpc",
            json={"id": 3, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]},
        )
    ).json()
    assert sent.get("error", {}).get("code") != -32601  # it reaches the node (which refuses it)
    info = (await client.get("/api/chain")).json()
    assert Web3.is_checksum_address(info["relayer"])


async def test_the_rpc_endpoint_serves_this_machine_only(runtime: Runtime) -> None:
    app = create_app(runtime.settings, runtime=runtime)
    remote = httpx.ASGITransport(app=app, client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=remote, base_url=runtime.settings.origin) as http:
        refused = await http.post("/chain/rpc", json={"id": 1, "method": "eth_chainId"})
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/not-local"


@pytest.mark.parametrize("services", [["governance"]])
def test_a_restarted_server_keeps_its_chain(
    tmp_path: Path, database_url: str, services: list[str]
) -> None:
    """Restarting `make run` reset the embedded chain: confirmed votes fell back to pending
    with InvalidSnapshot warnings. Now the same chain comes back."""
    home = tmp_path / "home"

    def serve() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "atelier", "serve", *services, "--port", str(port)],
            env=atelier_env(home, database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        url = f"http://localhost:{port}"
        wait_healthy(url, process)
        return process, url

    process, url = serve()
    before = httpx.get(f"{url}/api/chain").json()
    stop(process, signal.SIGTERM)
    process, url = serve()
    try:
        after = httpx.get(f"{url}/api/chain").json()
        assert (after["voting"], after["token"]) == (before["voting"], before["token"])
        assert after["head"] >= before["head"]
        deployment = json.loads((home / "chain" / "deployment.json").read_text())
        assert deployment["voting"] == before["voting"]
    finally:
        output = stop(process)
    assert "journal_without_deployment" not in output
