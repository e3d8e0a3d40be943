"""Two ledgers (decision 0016): the money ledger (double-entry, integer minor units, a
currency on every posting) and governance's token ledger (append-only credits and debits in
integer base units per wallet, weighing votes under the `ledger` strategy)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
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
