"""The internal ledger: credits and debits that never go below zero."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository
from atelier.core.errors import Conflict, InvalidInput
from atelier.economy import repository as repo
from atelier.economy.models import LedgerEntry

MAX_MEMO = 200


async def post_entry(session: AsyncSession, wallet: str, amount: int, memo: str) -> LedgerEntry:
    """Credit (amount > 0) or debit (amount < 0) `wallet`; the balance never goes below 0."""
    if amount == 0:
        raise InvalidInput("a ledger entry moves a non-zero amount", slug="zero-amount")
    if len(memo) > MAX_MEMO:
        raise InvalidInput(f"a memo is at most {MAX_MEMO} characters", slug="memo-too-long")
    await repo.lock_wallet(session, wallet)
    if amount < 0 and await repo.balance_at(session, wallet) + amount < 0:
        raise Conflict(f"{wallet} holds less than {-amount}", slug="insufficient-balance")
    return await repository.add(session, LedgerEntry(wallet=wallet, amount=amount, memo=memo))


async def balance_at(session: AsyncSession, wallet: str, at: datetime | None = None) -> int:
    return await repo.balance_at(session, wallet, at)
