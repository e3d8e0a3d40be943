"""The compiled governance contracts (committed artifacts) and their deployment.

The artifacts under `artifacts/` are built from `contracts/src/*.sol` by `make contracts`
(solc and OpenZeppelin pinned in `contracts/package-lock.json`); `tests/chain` fails when a
source no longer matches the hash its artifact records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt

_ARTIFACTS_PACKAGE = "atelier.chain.evm"
_ARTIFACTS_DIR = "artifacts"


@dataclass(frozen=True)
class Artifact:
    """One contract as solc built it: ABI, creation and runtime code, how, and from what."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler: dict[str, Any]
    sources_sha256: dict[str, str]


@cache
def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract `name` (`SoulvanCoin`, `SoulvanUpgradeVoting`)."""
    path = resources.files(_ARTIFACTS_PACKAGE).joinpath(_ARTIFACTS_DIR, f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(
            f"no compiled artifact for contract {name!r} in atelier/chain/evm/artifacts "
            "(run `make contracts`)"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler=data["compiler"],
        sources_sha256=data["sourcesSha256"],
    )


def abi_hashes(abi: Sequence[Any], kind: str) -> dict[bytes, str]:
    """keccak256 of each `kind` ("event", "error") signature in `abi` → its name.

    An event's topic0 is the whole hash; an error's selector is its first 4 bytes.
    """
    hashes: dict[bytes, str] = {}
    for item in abi:
        if item.get("type") == kind:
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            hashes[bytes(Web3.keccak(text=signature))] = str(item["name"])
    return hashes


@dataclass(frozen=True)
class Deployment:
    """Where the governance contracts live on one chain, and from which block to index."""

    chain_id: int
    token: ChecksumAddress
    voting: ChecksumAddress
    deploy_block: int


def send(w3: Web3, tx: TxParams, key: LocalAccount | None = None) -> TxReceipt:
    """Send `tx` and wait for a successful receipt: signed here with `key`, or by the node
    for its own unlocked `from` account (eth-tester, a dev node) when `key` is None.

    The one place a transaction leaves Atelier.
    """
    if key is None:
        tx_hash = w3.eth.send_transaction(tx)
    else:
        tx = {
            **tx,
            "from": key.address,
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(key.address, "pending"),
        }
        tx.setdefault("gas", w3.eth.estimate_gas(tx))
        signed = key.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} failed (status {receipt['status']})")
    return receipt


def _deploy_one(
    w3: Web3, deployer: ChecksumAddress, key: LocalAccount | None, name: str, *args: Any
) -> tuple[ChecksumAddress, int]:
    """Deploy contract `name`; its address and the block it was created in."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(*args).build_transaction({"from": deployer})
    receipt = send(w3, tx, key)
    address = receipt["contractAddress"]
    if address is None:
        raise RuntimeError(f"deploying {name} created no contract")
    return Web3.to_checksum_address(address), receipt["blockNumber"]


def deploy(
    w3: Web3,
    deployer: ChecksumAddress,
    *,
    initial_holder: ChecksumAddress | None = None,
    initial_supply: int = 0,
    voting_period_s: int = 3 * 24 * 3600,
    quorum: int = 0,
    key: LocalAccount | None = None,
) -> Deployment:
    """Deploy SoulvanCoin and SoulvanUpgradeVoting, both owned by `deployer`.

    `initial_supply` base units go to `initial_holder` (the deployer when not given).
    `voting_period_s` and `quorum` are the voting contract's defaults for `createProposal`.
    With `key`, transactions are signed locally (its address must be `deployer`).
    """
    holder = initial_holder if initial_holder is not None else deployer
    token, deploy_block = _deploy_one(
        w3, deployer, key, "SoulvanCoin", deployer, holder, initial_supply
    )
    voting, _ = _deploy_one(
        w3, deployer, key, "SoulvanUpgradeVoting", deployer, token, voting_period_s, quorum
    )
    return Deployment(
        chain_id=w3.eth.chain_id, token=token, voting=voting, deploy_block=deploy_block
    )


def token_contract(w3: Web3, address: ChecksumAddress) -> Contract:
    """SoulvanCoin at `address`."""
    return w3.eth.contract(address=address, abi=load_artifact("SoulvanCoin").abi)


def voting_contract(w3: Web3, address: ChecksumAddress) -> Contract:
    """SoulvanUpgradeVoting at `address`."""
    return w3.eth.contract(address=address, abi=load_artifact("SoulvanUpgradeVoting").abi)
