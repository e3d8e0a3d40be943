"""Ledger queries: governance's token ledger, and the money ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.economy.models import (
    LedgerEntry,
    MoneyAccount,
    MoneyTransaction,
    Posting,
    WebhookEvent,
)


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


# -- the money ledger ---------------------------------------------------------------------


async def account_ids(session: AsyncSession, names: list[str], kinds: list[str]) -> dict[str, int]:
    """The ids of the named accounts, opening those not seen before (concurrent writers
    open each account once)."""
    await session.execute(
        insert(MoneyAccount)
        .values([{"name": n, "kind": k} for n, k in zip(names, kinds, strict=True)])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    rows = await session.execute(
        select(MoneyAccount.name, MoneyAccount.id).where(MoneyAccount.name.in_(names))
    )
    return {name: int(account_id) for name, account_id in rows.tuples().all()}


async def add_transaction(
    session: AsyncSession, transaction: MoneyTransaction, postings: list[dict[str, Any]]
) -> bool:
    """Write a transaction and its postings; False when its `source` (or the transaction it
    reverses) was already recorded (nothing is written then)."""
    inserted = await session.scalar(
        insert(MoneyTransaction)
        .values(
            id=transaction.id,
            occurred_at=transaction.occurred_at,
            description=transaction.description,
            source=transaction.source,
            reverses_id=transaction.reverses_id,
        )
        .on_conflict_do_nothing()
        .returning(MoneyTransaction.id)
    )
    if inserted is None:
        return False
    await session.execute(
        insert(Posting).values([{**p, "transaction_id": transaction.id} for p in postings])
    )
    return True


async def money_transaction(
    session: AsyncSession, transaction_id: uuid.UUID
) -> tuple[MoneyTransaction, list[tuple[str, int, str]]] | None:
    """A transaction with its postings as (account name, amount, currency)."""
    found = await session.get(MoneyTransaction, transaction_id)
    if found is None:
        return None
    rows = await session.execute(
        select(MoneyAccount.name, Posting.amount, Posting.currency)
        .join(MoneyAccount, MoneyAccount.id == Posting.account_id)
        .where(Posting.transaction_id == transaction_id)
        .order_by(Posting.id)
    )
    return found, [(n, int(a), c) for n, a, c in rows.tuples().all()]


async def balances(session: AsyncSession, at: datetime | None = None) -> dict[tuple[str, str], int]:
    """(account, currency) → the sum of its postings (up to `at`)."""
    statement = (
        select(MoneyAccount.name, Posting.currency, func.sum(Posting.amount))
        .join(MoneyAccount, MoneyAccount.id == Posting.account_id)
        .join(MoneyTransaction, MoneyTransaction.id == Posting.transaction_id)
        .group_by(MoneyAccount.name, Posting.currency)
    )
    if at is not None:
        statement = statement.where(MoneyTransaction.occurred_at <= at)
    rows = await session.execute(statement)
    return {(name, currency): int(total) for name, currency, total in rows.tuples().all()}


async def journal_rows(
    session: AsyncSession,
) -> list[tuple[uuid.UUID, datetime, str, str | None, uuid.UUID | None, str, int, str]]:
    """Every posting with its transaction, in the order they happened."""
    rows = await session.execute(
        select(
            MoneyTransaction.id,
            MoneyTransaction.occurred_at,
            MoneyTransaction.description,
            MoneyTransaction.source,
            MoneyTransaction.reverses_id,
            MoneyAccount.name,
            Posting.amount,
            Posting.currency,
        )
        .join(Posting, Posting.transaction_id == MoneyTransaction.id)
        .join(MoneyAccount, MoneyAccount.id == Posting.account_id)
        .order_by(MoneyTransaction.occurred_at, MoneyTransaction.created_at, Posting.id)
    )
    return [tuple(row) for row in rows.tuples().all()]  # type: ignore[misc]


async def accounts(session: AsyncSession) -> list[MoneyAccount]:
    return list(await session.scalars(select(MoneyAccount).order_by(MoneyAccount.name)))


async def add_webhook_event(
    session: AsyncSession, provider: str, event_id: str, event_type: str, payload: dict[str, Any]
) -> bool:
    """Store a received event; False when it was received before."""
    inserted = await session.scalar(
        insert(WebhookEvent)
        .values(provider=provider, event_id=event_id, type=event_type, payload=payload)
        .on_conflict_do_nothing()
        .returning(WebhookEvent.id)
    )
    return inserted is not None


async def link_webhook_event(
    session: AsyncSession, provider: str, event_id: str, transaction_id: uuid.UUID
) -> None:
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        .values(transaction_id=transaction_id)
    )
