"""The transactional outbox: cross-domain reactions without distributed transactions.

A domain that changes state writes an `outbox_events` row in the same transaction
(`emit`). The `core:dispatch_outbox` task fans each event out to one procrastinate job per
subscribed handler; `core:handle_event` runs a handler inside a transaction that also
records `(event_id, handler)` in `outbox_deliveries`, so a redelivered event is a no-op
and a failed handler rolls back and is retried. Handlers must therefore only have
database side effects, or external side effects that tolerate a rare repeat (an email).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base

# The topics domains publish, named once: the payload is the contract between a publisher
# and its subscribers, which never import each other for it.
ARTIFACT_ACCEPTED = "artifact.accepted"  # grid: a worker's result became the job's result
UPGRADE_APPLIED = "governance.upgrade_applied"  # the chain applied a job's upgrade


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True
    )
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(server_default=func.now())


Handler = Callable[[AsyncSession, OutboxEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    topic: str
    name: str
    handler: Handler


_SUBSCRIPTIONS: dict[str, Subscription] = {}


def subscribe(topic: str, name: str) -> Callable[[Handler], Handler]:
    """Register `handler` for `topic` under a stable `name` (it is stored in the database)."""

    def register(handler: Handler) -> Handler:
        existing = _SUBSCRIPTIONS.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"event handler name {name!r} is used twice")
        _SUBSCRIPTIONS[name] = Subscription(topic, name, handler)
        return handler

    return register


def handlers_for(topic: str) -> list[Subscription]:
    return [s for s in _SUBSCRIPTIONS.values() if s.topic == topic]


def subscription(name: str) -> Subscription | None:
    return _SUBSCRIPTIONS.get(name)


OUTBOX_FLAG = "atelier.outbox_emitted"


async def emit(session: AsyncSession, topic: str, payload: dict[str, Any]) -> OutboxEvent:
    """Record an event in the caller's transaction; it is dispatched only if that commits."""
    event = OutboxEvent(topic=topic, payload=payload)
    session.add(event)
    await session.flush()
    session.info[OUTBOX_FLAG] = True
    return event


async def claim_undispatched(session: AsyncSession, limit: int = 200) -> list[OutboxEvent]:
    """Lock a batch of undispatched events; concurrent dispatchers skip each other's rows."""
    result = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result)


async def mark_dispatched(session: AsyncSession, events: list[OutboxEvent]) -> None:
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([e.id for e in events]))
        .values(dispatched_at=func.now())
    )


async def record_delivery(session: AsyncSession, event_id: int, handler: str) -> bool:
    """True the first time (event, handler) is seen in a committed transaction."""
    inserted = await session.scalar(
        insert(OutboxDelivery)
        .values(event_id=event_id, handler=handler)
        .on_conflict_do_nothing()
        .returning(OutboxDelivery.event_id)
    )
    return inserted is not None
