"""A reorg-safe reader of one contract's events (`eth_getLogs` polling).

Each poll first checks that the newest block it read still has the hash it had; if not, it
walks back through the hashes it kept until one matches (the common ancestor), deletes every
log read above it and reports them as removed, then reads forward again. It reads only up to
`head - confirmations`, and re-reads the tip's hash after `eth_getLogs` so a reorg racing the
read is caught by the next poll instead of being half-read. Logs are deduplicated on
(chain, transaction hash, log index), so overlapping or repeated polls never double-count.

The caller applies `removed` before `added`, in the transaction the poll ran in: the logs
table and what was derived from it change together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from web3.contract import Contract

from atelier.chain.evm import repository as repo
from atelier.chain.evm.client import EvmChain, jsonable
from atelier.chain.evm.contracts import abi_hashes
from atelier.chain.evm.models import ChainLog

# Block hashes kept below the newest read block; a reorg deeper than this re-reads from the
# start. Set confirmations well below it (mainnet: 12 to 64).
KEPT_BLOCKS = 256
MAX_RANGE = 2000


class ChainMoved(RuntimeError):
    """The tip changed while reading: the next poll starts again from a consistent view."""


@dataclass
class Batch:
    removed: list[ChainLog] = field(default_factory=list)
    added: list[ChainLog] = field(default_factory=list)
    reorg_at: int | None = None  # the common ancestor after a reorg


def _read(chain: EvmChain, contract: Contract, start: int, end: int) -> tuple[str, list[Any]]:
    w3 = chain.w3
    tip = w3.eth.get_block(end)["hash"].to_0x_hex()
    raw = w3.eth.get_logs({"address": contract.address, "fromBlock": start, "toBlock": end})
    if w3.eth.get_block(end)["hash"].to_0x_hex() != tip:
        raise ChainMoved(f"block {end} changed while reading")
    topics = abi_hashes(contract.abi, "event")
    decoded = []
    for log in raw:
        name = topics.get(bytes(log["topics"][0])) if log["topics"] else None
        if name is not None:
            decoded.append(contract.events[name]().process_log(log))
    return tip, decoded


def _hash_at(chain: EvmChain, number: int) -> str | None:
    if number > chain.w3.eth.block_number:
        return None
    return chain.w3.eth.get_block(number)["hash"].to_0x_hex()


async def poll(
    session: AsyncSession,
    chain: EvmChain,
    contract: Contract,
    *,
    confirmations: int,
    start_block: int,
) -> Batch:
    batch = Batch()
    chain_id, address = chain.chain_id, contract.address
    kept = await repo.kept_blocks(session, chain_id, address)
    last_read = start_block - 1
    if kept:
        ancestor: int | None = None
        for block in kept:
            if await chain.run(partial(_hash_at, number=block.number)) == block.hash:
                ancestor = block.number
                break
        if ancestor == kept[0].number:
            last_read = ancestor
        else:  # reorganised (or a new embedded chain): forget what was read above the ancestor
            cut = ancestor if ancestor is not None else start_block - 1
            batch.reorg_at = cut
            batch.removed = await repo.forget_above(session, chain_id, address, cut)
            last_read = cut
    head = await chain.run(lambda c: c.w3.eth.block_number)
    end = min(head - confirmations, last_read + MAX_RANGE)
    if end <= last_read:
        return batch
    tip, events = await chain.run(lambda c: _read(c, contract, last_read + 1, end))
    blocks = {end: tip}
    for event in events:
        row = {
            "chain_id": chain.chain_id,
            "tx_hash": event["transactionHash"].to_0x_hex(),
            "log_index": event["logIndex"],
            "contract": contract.address,
            "block_number": event["blockNumber"],
            "block_hash": event["blockHash"].to_0x_hex(),
            "event": event["event"],
            "args": jsonable(dict(event["args"])),
        }
        blocks[row["block_number"]] = row["block_hash"]
        inserted = await repo.add_log(session, row)
        if inserted is not None:
            batch.added.append(inserted)
    await repo.keep_blocks(session, chain_id, address, blocks, keep_from=end - KEPT_BLOCKS)
    return batch


@dataclass(frozen=True)
class Position:
    chain_id: int
    contract: str
    block: int  # the newest block read
    read_at: datetime


async def positions(session: AsyncSession) -> list[Position]:
    """How far the indexer has read each contract, and when it last moved."""
    return [Position(*row) for row in await repo.positions(session)]
