"""What the event indexer has read: block hashes (to notice reorgs) and decoded logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class IndexedBlock(Base):
    """A block the indexer has read up to or found logs in, with the hash it had then.

    A later poll that finds another hash at the same height knows the chain reorganised.
    """

    __tablename__ = "chain_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))
    read_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ChainLog(Base):
    """One decoded contract event, deduplicated on (chain, transaction, log index)."""

    __tablename__ = "chain_logs"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract: Mapped[str] = mapped_column(String(42), index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    event: Mapped[str] = mapped_column(String(60))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB)
    read_at: Mapped[datetime] = mapped_column(server_default=func.now())
