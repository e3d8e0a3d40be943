"""Ledger queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.economy.models import LedgerEntry


async def balance_at(session: AsyncSession, wallet: str, at: datetime | None = None) -> int:
    """The wallet's balance from the entries made up to `at` (now when None)."""
    statement = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.wallet == wallet
    )
    if at is not None:
        statement = statement.where(LedgerEntry.created_at <= at)
    return int(await session.scalar(statement) or 0)


async def lock_wallet(session: AsyncSession, wallet: str) -> None:
    """Serialise `wallet`'s entries until the transaction ends (a transaction-scoped
    advisory lock), so two concurrent debits cannot both pass the balance check."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("ledger:" + wallet))))
