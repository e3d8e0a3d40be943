"""What the indexer keeps per (chain, contract): the hashes of the blocks it read (to notice a
reorganisation) and the decoded logs, unique on (chain, tx hash, log index)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.evm.models import ChainLog, IndexedBlock


def _blocks_of(chain_id: int, contract: str) -> ColumnElement[bool]:
    return (IndexedBlock.chain_id == chain_id) & (IndexedBlock.contract == contract)


async def kept_blocks(session: AsyncSession, chain_id: int, contract: str) -> list[IndexedBlock]:
    """The blocks read, newest first."""
    rows = await session.scalars(
        select(IndexedBlock)
        .where(_blocks_of(chain_id, contract))
        .order_by(IndexedBlock.number.desc())
    )
    return list(rows)


async def forget_above(
    session: AsyncSession, chain_id: int, contract: str, cut: int
) -> list[ChainLog]:
    """Drop what was read above block `cut` (a reorganisation); the logs dropped."""
    logs_key = (ChainLog.chain_id == chain_id) & (ChainLog.contract == contract)
    removed = await session.scalars(
        delete(ChainLog).where(logs_key, ChainLog.block_number > cut).returning(ChainLog)
    )
    dropped = list(removed)
    await session.execute(
        delete(IndexedBlock).where(_blocks_of(chain_id, contract), IndexedBlock.number > cut)
    )
    return dropped


async def add_log(session: AsyncSession, row: dict[str, Any]) -> ChainLog | None:
    """The log, unless it was stored already (None)."""
    inserted: ChainLog | None = await session.scalar(
        insert(ChainLog).values(**row).on_conflict_do_nothing().returning(ChainLog)
    )
    return inserted


async def keep_blocks(
    session: AsyncSession, chain_id: int, contract: str, hashes: dict[int, str], keep_from: int
) -> None:
    """Record the hashes of blocks read; forget those below `keep_from`."""
    for number, block_hash in hashes.items():
        await session.execute(
            insert(IndexedBlock)
            .values(chain_id=chain_id, contract=contract, number=number, hash=block_hash)
            .on_conflict_do_update(
                index_elements=["chain_id", "contract", "number"], set_={"hash": block_hash}
            )
        )
    await session.execute(
        delete(IndexedBlock).where(_blocks_of(chain_id, contract), IndexedBlock.number < keep_from)
    )


async def positions(session: AsyncSession) -> list[tuple[int, str, int, datetime]]:
    """Per (chain, contract): the newest block read and when."""
    rows = await session.execute(
        select(
            IndexedBlock.chain_id,
            IndexedBlock.contract,
            func.max(IndexedBlock.number),
            func.max(IndexedBlock.read_at),
        ).group_by(IndexedBlock.chain_id, IndexedBlock.contract)
    )
    return [(int(c), str(a), int(n), t) for c, a, n, t in rows.tuples().all()]
