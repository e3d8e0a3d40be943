"""Two ledgers (decision 0016): the money ledger (double-entry, integer minor units, a
currency on every posting) and governance's token ledger (append-only credits and debits in
integer base units per wallet, weighing votes under the `ledger` strategy)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
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


class AccountKind(StrEnum):
    """Beancount's five account types; an account's name starts with its kind."""

    ASSETS = "Assets"
    LIABILITIES = "Liabilities"
    INCOME = "Income"
    EXPENSES = "Expenses"
    EQUITY = "Equity"


class MoneyAccount(Base):
    """An account of the money ledger, by its hierarchical name ("Liabilities:Payable:Workers:
    rig-7"). It holds no balance: balances are the sums of its postings."""

    __tablename__ = "money_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MoneyTransaction(Base):
    """One movement of money: a balanced set of postings, never changed once written
    (database triggers refuse UPDATE and DELETE); a correction is a reversing transaction."""

    __tablename__ = "money_transactions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(String(500))
    # what caused it, unique: a provider's event id, a distribution's month… (idempotency)
    source: Mapped[str | None] = mapped_column(String(200), unique=True)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("money_transactions.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Posting(Base):
    """A signed amount in integer minor units (cents) of one currency on one account."""

    __tablename__ = "money_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        Index("ix_money_postings_account", "account_id", "currency"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("money_transactions.id"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("money_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class WebhookEvent(Base):
    """A provider's event as received (after its signature was checked), kept for audit;
    unique per provider and event id, so a redelivery is recognised and applied once."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("money_transactions.id"))


class Contribution(Base):
    """A worker's accepted job, as the grid reported it (`ArtifactAccepted`): its size in
    work units (thousandths of a standard second, decision 0017), counted in `month` (the
    month it was accepted in, or the first month still open when that one was closed)."""

    __tablename__ = "economy_contributions"
    __table_args__ = (
        CheckConstraint("units > 0", name="positive_units"),
        Index("ix_economy_contributions_month_worker", "month", "worker_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    artifact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    worker_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(10))
    units: Mapped[int] = mapped_column(BigInteger)
    month: Mapped[date] = mapped_column(Date)
    accepted_at: Mapped[datetime]


class WorkerStanding(Base):
    """What the economy knows of a worker: its public name, its owner (who is paid), when
    it first contributed, and its canary record; a flagged worker's share is held."""

    __tablename__ = "economy_workers"

    worker_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    first_seen_at: Mapped[datetime]
    canaries_passed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    canaries_failed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    flagged_reason: Mapped[str | None] = mapped_column(Text)


class MonthClose(Base):
    """A distributed (closed) month: it covers every contribution and donation not covered
    by an earlier close, up to its last day. `digest` is the sha256 of the month's public
    postings CSV as it was published."""

    __tablename__ = "economy_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    contributors: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(BigInteger)
    split_bp: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    note: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))


class MonthPool(Base):
    """One currency's pool of a closed month and how it was split (all in minor units)."""

    __tablename__ = "economy_month_pools"

    month: Mapped[date] = mapped_column(ForeignKey("economy_months.month"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    pool: Mapped[int] = mapped_column(BigInteger)  # negative: a deficit carried forward
    workers: Mapped[int] = mapped_column(BigInteger)
    infrastructure: Mapped[int] = mapped_column(BigInteger)
    development: Mapped[int] = mapped_column(BigInteger)
    escrowed: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("money_transactions.id"))


class Share(Base):
    """A worker's part of a month's workers' pool (public: the worker's name, not its owner)."""

    __tablename__ = "economy_shares"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    worker_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    worker_name: Mapped[str] = mapped_column(String(100))
    units: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    escrowed: Mapped[bool]


class PayoutState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class Payout(Base):
    """What a worker's owner is paid for a month (its share, plus escrow released): pending
    until a payout provider (or an operator paying by hand) sends it."""

    __tablename__ = "economy_payouts"
    __table_args__ = (
        UniqueConstraint("month", "currency", "worker_id"),
        CheckConstraint("amount > 0", name="positive_amount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    month: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    worker_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    provider: Mapped[str | None] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("money_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PledgeState(StrEnum):
    PLEDGED = "pledged"
    CONFIRMED = "confirmed"


class Pledge(Base):
    """A donation announced through the API (`POST /api/v1/donate`): not money until a
    provider's verified event naming it (`metadata.pledge_id` on Stripe, `custom_id` on
    PayPal) confirms it; only then is anything posted."""

    __tablename__ = "economy_pledges"
    __table_args__ = (CheckConstraint("amount > 0", name="positive_amount"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    message: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(10), server_default=text("'pledged'"))
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("money_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    confirmed_at: Mapped[datetime | None]


class PayoutAccount(Base):
    """Where a contributor is paid: a payout provider and the contributor's account there
    (a Stripe Connect account id, `acct_…`)."""

    __tablename__ = "economy_payout_accounts"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    destination: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
