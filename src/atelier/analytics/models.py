"""Analytics tables: product facts as they happen (a pseudonym instead of who), and their
daily rollups (what the charts and /metrics read)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Identity, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class ProductEvent(Base):
    """One product fact: a sign-up, a job of some kind, a film watched. `subject` is a
    keyed hash of the account (the same person gets the same pseudonym, which names no one
    without the platform's analytics key); `ref` identifies the fact, so a repeated event
    counts once."""

    __tablename__ = "analytics_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    metric: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str | None] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("metric", "ref", name="uq_analytics_events_fact"),
        Index("ix_analytics_events_day", "day", "metric"),
    )


class DailyCount(Base):
    """A metric's count on one UTC day, and how many distinct pseudonyms made it."""

    __tablename__ = "analytics_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    uniques: Mapped[int] = mapped_column(Integer)
