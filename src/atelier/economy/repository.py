"""Ledger queries: governance's token ledger, and the money ledger."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, String, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.economy.models import (
    Contribution,
    LedgerEntry,
    MoneyAccount,
    MoneyTransaction,
    MonthClose,
    MonthPool,
    Payout,
    PayoutAccount,
    PayoutState,
    Pledge,
    PledgeState,
    Posting,
    Share,
    WebhookEvent,
    WorkerStanding,
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


def _bulk_insert(model: Any, rows: list[dict[str, Any]]) -> Any:
    """INSERT … SELECT unnest(array), … : any number of rows as one array per column, so
    the statement's size (and its compile and parse time) does not grow with the rows (a
    month's close writes 10,000 postings, shares and payouts)."""
    table = model.__table__
    names = list(rows[0])
    columns = [
        func.unnest(
            bindparam(name, [row[name] for row in rows], type_=ARRAY(table.c[name].type))
        ).label(name)
        for name in names
    ]
    return insert(model).from_select(names, select(*columns))


async def account_ids(session: AsyncSession, names: list[str], kinds: list[str]) -> dict[str, int]:
    """The ids of the named accounts, opening those not seen before (concurrent writers
    open each account once)."""
    rows = [{"name": n, "kind": k} for n, k in zip(names, kinds, strict=True)]
    await session.execute(
        _bulk_insert(MoneyAccount, rows).on_conflict_do_nothing(index_elements=["name"])
    )
    found = await session.execute(
        select(MoneyAccount.name, MoneyAccount.id).where(
            MoneyAccount.name == any_(bindparam("names", names, type_=ARRAY(String)))
        )
    )
    return {name: int(account_id) for name, account_id in found.tuples().all()}


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
        _bulk_insert(Posting, [{**p, "transaction_id": transaction.id} for p in postings])
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


# -- contributions, months, shares and payouts --------------------------------------------


async def lock_months(session: AsyncSession, *, shared: bool) -> None:
    """Months close one at a time (exclusive), while postings and contributions, which must
    land in a month still open, take the lock shared: nothing is recorded into a month while
    it closes, so a closed month's postings never change."""
    lock = func.pg_advisory_xact_lock_shared if shared else func.pg_advisory_xact_lock
    await session.execute(select(lock(func.hashtext("economy:months"))))


async def last_closed_month(session: AsyncSession) -> date | None:
    return await session.scalar(select(func.max(MonthClose.month)))


async def add_contribution(session: AsyncSession, contribution: dict[str, Any]) -> bool:
    """False when this artifact's contribution was already counted."""
    inserted = await session.scalar(
        insert(Contribution)
        .values(**contribution)
        .on_conflict_do_nothing(index_elements=["artifact_id"])
        .returning(Contribution.id)
    )
    return inserted is not None


async def note_worker(
    session: AsyncSession,
    worker_id: uuid.UUID,
    name: str,
    owner_id: uuid.UUID | None,
    seen: datetime,
) -> None:
    """Remember a worker (its latest name and owner; when it was first seen)."""
    statement = insert(WorkerStanding).values(
        worker_id=worker_id, name=name, owner_id=owner_id, first_seen_at=seen
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["worker_id"],
            set_={
                "name": statement.excluded.name,
                "owner_id": func.coalesce(statement.excluded.owner_id, WorkerStanding.owner_id),
                "first_seen_at": func.least(
                    WorkerStanding.first_seen_at, statement.excluded.first_seen_at
                ),
            },
        )
    )


async def standing(session: AsyncSession, worker_id: uuid.UUID) -> WorkerStanding | None:
    return await session.get(WorkerStanding, worker_id)


async def standings(session: AsyncSession) -> list[WorkerStanding]:
    return list(await session.scalars(select(WorkerStanding).order_by(WorkerStanding.name)))


async def units_by_worker(
    session: AsyncSession, after: date | None, upto: date
) -> list[tuple[uuid.UUID, int]]:
    """Each worker's work units in the months after `after` (the last close) up to `upto`."""
    statement = (
        select(Contribution.worker_id, func.sum(Contribution.units))
        .where(Contribution.month <= upto)
        .group_by(Contribution.worker_id)
    )
    if after is not None:
        statement = statement.where(Contribution.month > after)
    rows = await session.execute(statement)
    return [(worker_id, int(units)) for worker_id, units in rows.tuples().all()]


def _prefixed(prefix: str) -> Any:
    return MoneyAccount.name.startswith(prefix, autoescape=True)


async def sums_by_account(
    session: AsyncSession,
    prefix: str,
    before: datetime | None = None,
    since: datetime | None = None,
) -> dict[tuple[str, str], int]:
    """(account, currency) → the sum of its postings in [since, before), for accounts named
    `prefix…`."""
    statement = (
        select(MoneyAccount.name, Posting.currency, func.sum(Posting.amount))
        .join(MoneyAccount, MoneyAccount.id == Posting.account_id)
        .join(MoneyTransaction, MoneyTransaction.id == Posting.transaction_id)
        .where(_prefixed(prefix))
        .group_by(MoneyAccount.name, Posting.currency)
    )
    if before is not None:
        statement = statement.where(MoneyTransaction.occurred_at < before)
    if since is not None:
        statement = statement.where(MoneyTransaction.occurred_at >= since)
    rows = await session.execute(statement)
    return {(name, currency): int(total) for name, currency, total in rows.tuples().all()}


async def add_month(
    session: AsyncSession,
    close: dict[str, Any],
    pools: list[dict[str, Any]],
    shares: list[dict[str, Any]],
    payouts: list[dict[str, Any]],
) -> None:
    """Write a month's close with its pools, shares and payouts (bulk inserts: a month of
    10,000 workers is 20,000 rows)."""
    await session.execute(insert(MonthClose).values(**close))
    for model, rows in ((MonthPool, pools), (Share, shares), (Payout, payouts)):
        if rows:
            await session.execute(_bulk_insert(model, rows))


async def month_close(session: AsyncSession, month: date) -> MonthClose | None:
    return await session.get(MonthClose, month)


async def months(session: AsyncSession) -> list[MonthClose]:
    return list(await session.scalars(select(MonthClose).order_by(MonthClose.month.desc())))


async def month_pools(session: AsyncSession, month: date) -> list[MonthPool]:
    return list(
        await session.scalars(
            select(MonthPool).where(MonthPool.month == month).order_by(MonthPool.currency)
        )
    )


async def month_shares(session: AsyncSession, month: date, limit: int | None = None) -> list[Share]:
    statement = (
        select(Share)
        .where(Share.month == month)
        .order_by(Share.currency, Share.amount.desc(), Share.units.desc(), Share.worker_id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(await session.scalars(statement))


async def month_posting_rows(
    session: AsyncSession, since: datetime, before: datetime
) -> list[tuple[uuid.UUID, datetime, str | None, str, int, str]]:
    """The postings of the transactions that occurred in [since, before), in ledger order:
    (transaction, occurred_at, source, account, amount, currency)."""
    rows = await session.execute(
        select(
            MoneyTransaction.id,
            MoneyTransaction.occurred_at,
            MoneyTransaction.source,
            MoneyAccount.name,
            Posting.amount,
            Posting.currency,
        )
        .join(Posting, Posting.transaction_id == MoneyTransaction.id)
        .join(MoneyAccount, MoneyAccount.id == Posting.account_id)
        .where(MoneyTransaction.occurred_at >= since, MoneyTransaction.occurred_at < before)
        .order_by(MoneyTransaction.occurred_at, MoneyTransaction.created_at, Posting.id)
    )
    return [tuple(row) for row in rows.tuples().all()]  # type: ignore[misc]


async def payouts(
    session: AsyncSession,
    *,
    month: date | None = None,
    owner_id: uuid.UUID | None = None,
    state: str | None = None,
) -> list[Payout]:
    statement = select(Payout).order_by(Payout.month.desc(), Payout.currency, Payout.amount.desc())
    if month is not None:
        statement = statement.where(Payout.month == month)
    if owner_id is not None:
        statement = statement.where(Payout.owner_id == owner_id)
    if state is not None:
        statement = statement.where(Payout.state == state)
    return list(await session.scalars(statement))


async def payout(
    session: AsyncSession, payout_id: uuid.UUID, *, lock: bool = False
) -> Payout | None:
    return await session.get(Payout, payout_id, with_for_update=lock)


async def donations_by_month(
    session: AsyncSession, since: datetime
) -> list[tuple[date, str, str, int]]:
    """(month, donations account, currency, net amount) for postings on `Income:Donations…`
    dated from `since` on (income is negative: donations less refunds, negated)."""
    month = func.date_trunc("month", func.timezone("UTC", MoneyTransaction.occurred_at))
    rows = await session.execute(
        select(month, MoneyAccount.name, Posting.currency, -func.sum(Posting.amount))
        .join(MoneyAccount, MoneyAccount.id == Posting.account_id)
        .join(MoneyTransaction, MoneyTransaction.id == Posting.transaction_id)
        .where(_prefixed("Income:Donations"), MoneyTransaction.occurred_at >= since)
        .group_by(month, MoneyAccount.name, Posting.currency)
        .order_by(month)
    )
    return [(m.date(), name, c, int(total)) for m, name, c, total in rows.tuples().all()]


async def payout_totals(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(state, currency) → the sum of payouts in that state."""
    rows = await session.execute(
        select(Payout.state, Payout.currency, func.sum(Payout.amount)).group_by(
            Payout.state, Payout.currency
        )
    )
    return {(state, currency): int(total) for state, currency, total in rows.tuples().all()}


async def worker_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(WorkerStanding)) or 0)


async def shares_of(session: AsyncSession, worker_ids: list[uuid.UUID]) -> list[Share]:
    if not worker_ids:
        return []
    return list(
        await session.scalars(
            select(Share).where(Share.worker_id.in_(worker_ids)).order_by(Share.month.desc())
        )
    )


async def confirm_pledge(
    session: AsyncSession, pledge_id: uuid.UUID, transaction_id: uuid.UUID
) -> bool:
    """Mark a pledge paid by `transaction_id` (once; False when unknown or already paid)."""
    confirmed = await session.scalar(
        update(Pledge)
        .where(Pledge.id == pledge_id, Pledge.state == PledgeState.PLEDGED)
        .values(state=PledgeState.CONFIRMED, transaction_id=transaction_id, confirmed_at=func.now())
        .returning(Pledge.id)
    )
    return confirmed is not None


async def pledges_of(session: AsyncSession, user_id: uuid.UUID) -> list[Pledge]:
    return list(
        await session.scalars(
            select(Pledge).where(Pledge.user_id == user_id).order_by(Pledge.created_at.desc())
        )
    )


async def add_pledge(session: AsyncSession, pledge: Pledge) -> Pledge:
    session.add(pledge)
    await session.flush()
    await session.refresh(pledge)
    return pledge


async def set_payout_account(
    session: AsyncSession, user_id: uuid.UUID, provider: str, destination: str
) -> PayoutAccount:
    statement = insert(PayoutAccount).values(
        user_id=user_id, provider=provider, destination=destination
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"provider": provider, "destination": destination, "updated_at": func.now()},
        )
    )
    found = await session.get(PayoutAccount, user_id, populate_existing=True)
    assert found is not None
    return found


async def payout_account(session: AsyncSession, user_id: uuid.UUID) -> PayoutAccount | None:
    return await session.get(PayoutAccount, user_id)


async def payout_accounts(session: AsyncSession) -> dict[uuid.UUID, PayoutAccount]:
    return {a.user_id: a for a in await session.scalars(select(PayoutAccount))}


async def pending_payouts(
    session: AsyncSession, provider: str, month: date | None
) -> list[tuple[uuid.UUID, str]]:
    """(payout, destination) of pending payouts whose owner is paid through `provider`."""
    statement = (
        select(Payout.id, PayoutAccount.destination)
        .join(PayoutAccount, PayoutAccount.user_id == Payout.owner_id)
        .where(Payout.state == PayoutState.PENDING, PayoutAccount.provider == provider)
        .order_by(Payout.month, Payout.id)
    )
    if month is not None:
        statement = statement.where(Payout.month == month)
    rows = await session.execute(statement)
    return [(payout_id, destination) for payout_id, destination in rows.tuples().all()]


async def count_canary(
    session: AsyncSession, worker_id: uuid.UUID, passed: bool, flag: str | None
) -> None:
    values: dict[str, Any] = (
        {"canaries_passed": WorkerStanding.canaries_passed + 1}
        if passed
        else {"canaries_failed": WorkerStanding.canaries_failed + 1, "flagged_reason": flag}
    )
    await session.execute(
        update(WorkerStanding).where(WorkerStanding.worker_id == worker_id).values(**values)
    )
