"""The internal ledger: append-only credits and debits in integer base units per wallet."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Numeric, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class LedgerEntry(Base):
    """Never updated: a balance at any moment is the sum of the entries up to it, which is
    what lets governance weigh votes by the balance at a proposal's snapshot."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_wallet_at", "wallet", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    wallet: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Numeric(78, 0))
    memo: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
