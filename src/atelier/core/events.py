"""Typed events and the transactional outbox: cross-domain reactions without distributed
transactions.

A domain declares the facts it publishes as `Event` models in its own `events.py`
(`atelier.grid.events.ArtifactAccepted`); the topic is derived from the module and the class
(`grid.artifact_accepted`). A domain that changes state emits the event in the same
transaction (`emit`), which writes an `outbox_events` row. The `core:dispatch_outbox` task
fans each event out to one procrastinate job per subscribed handler; `core:handle_event` runs
a handler inside a transaction that also records `(event_id, handler)` in
`outbox_deliveries`, so a redelivered event is a no-op and a failed handler rolls back and
is retried. Handlers must therefore only have database side effects, or external side
effects that tolerate a rare repeat (an email).

A subscriber declares `@subscribe(ArtifactAccepted)` on `async def handler(session, event)`
and receives the typed model; `reactions()` lists who reacts to what (docs/architecture.md
shows it as a table generated from this registry).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, ForeignKey, Index, String, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base
from atelier.core.transactions import OUTBOX_FLAG

_DOMAIN_MODULE = re.compile(r"^atelier\.(?P<domain>[a-z_]+)\.")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def domain_of(module: str) -> str | None:
    """The domain a module of ours belongs to (`atelier.grid.events` → `grid`)."""
    found = _DOMAIN_MODULE.match(module)
    return found["domain"] if found else None


class Event(BaseModel):
    """A fact one domain publishes for others to react to. Its fields are the contract: add
    fields with defaults, never change one's meaning (stored events are read back)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]
    publisher: ClassVar[str]

    def __init_subclass__(cls, topic: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        domain = domain_of(cls.__module__)
        if topic is None and (domain is None or not cls.__module__.endswith(".events")):
            raise TypeError(
                f"{cls.__qualname__}: a domain's events live in its events.py (or pass topic=)"
            )
        cls.publisher = domain or cls.__module__
        cls.topic = topic or f"{domain}.{_snake(cls.__name__)}"

    def audience(self) -> tuple[str, ...]:
        """Which clients may see this event live (core/realtime.py): `"public"`,
        `"user:<id>"`, `"role:<role>"`. None by default: an event is for subscribers inside
        the platform unless its domain says who outside may see it."""
        return ()


E = TypeVar("E", bound=Event)

# A session's `info` key: the chain of automation rules whose action this transaction is
# (the events it emits carry it, so a rule set off by its own action is recognised).
CAUSE = "atelier.event_cause"
_DELIVERING: ContextVar[OutboxEvent | None] = ContextVar("atelier_delivering", default=None)


def delivering() -> OutboxEvent | None:
    """The stored event the running handler was called for (its id and cause)."""
    return _DELIVERING.get()


@contextmanager
def delivery(row: OutboxEvent) -> Iterator[None]:
    token = _DELIVERING.set(row)
    try:
        yield
    finally:
        _DELIVERING.reset(token)


# What a subscriber is: it receives the event as the model it subscribed to.
Reaction = Callable[[AsyncSession, E], Awaitable[None]]


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # who may see it live (empty: nobody outside): a trigger NOTIFYs realtime listeners
    audience: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), server_default=text("'{}'::varchar[]")
    )
    # the automation rules whose actions led to it (loops are cut off by it)
    cause: Mapped[list[str] | None] = mapped_column(JSONB, default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        # a reconnecting client's replay reads only the events someone outside may see
        Index("ix_outbox_events_visible", "id", postgresql_where=text("cardinality(audience) > 0")),
    )


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True
    )
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(server_default=func.now())


Handler = Callable[[AsyncSession, Any], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    event: type[Event]
    name: str  # stored in outbox_deliveries: keep it stable
    handler: Handler

    @property
    def topic(self) -> str:
        return self.event.topic


_SUBSCRIPTIONS: dict[str, Subscription] = {}


def subscribe(event: type[E], *, name: str | None = None) -> Callable[[Reaction[E]], Reaction[E]]:
    """Run the decorated `handler(session, event)` for every `event` emitted. Its name
    (default: `<domain>.<function>`) identifies its deliveries, so it must not change."""

    def register(handler: Reaction[E]) -> Reaction[E]:
        domain = domain_of(handler.__module__)
        key = name or f"{domain or handler.__module__}.{handler.__name__}"
        existing = _SUBSCRIPTIONS.get(key)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"event handler name {key!r} is used twice")
        _SUBSCRIPTIONS[key] = Subscription(event, key, handler)
        return handler

    return register


def handlers_for(topic: str) -> list[Subscription]:
    return [s for s in _SUBSCRIPTIONS.values() if s.topic == topic]


def subscription(name: str) -> Subscription | None:
    return _SUBSCRIPTIONS.get(name)


def reactions() -> list[Subscription]:
    """Every registered subscription, by publisher, topic and name."""
    return sorted(_SUBSCRIPTIONS.values(), key=lambda s: (s.event.publisher, s.topic, s.name))


async def emit(session: AsyncSession, event: Event) -> OutboxEvent:
    """Record `event` in the caller's transaction; it is dispatched only if that commits."""
    cause = session.info.get(CAUSE)
    row = OutboxEvent(
        topic=event.topic,
        payload=event.model_dump(mode="json"),
        audience=list(event.audience()),
        cause=list(cause) if cause else None,
    )
    session.add(row)
    await session.flush()
    session.info[OUTBOX_FLAG] = True
    return row


def parse(subscription: Subscription, row: OutboxEvent) -> Event:
    """The stored event as the model its subscriber declared."""
    return subscription.event.model_validate(row.payload)


async def stored(session: AsyncSession, event_id: int) -> OutboxEvent | None:
    return await session.get(OutboxEvent, event_id)


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


async def for_audience(
    session: AsyncSession,
    after_id: int,
    scopes: frozenset[str],
    limit: int,
    *,
    topics: frozenset[str] | None = None,
) -> list[OutboxEvent]:
    """Events after `after_id` that one of `scopes` may see, oldest first."""
    query = (
        select(OutboxEvent)
        .where(
            OutboxEvent.id > after_id,
            func.cardinality(OutboxEvent.audience) > 0,
            OutboxEvent.audience.overlap(sorted(scopes)),
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if topics is not None:
        query = query.where(OutboxEvent.topic.in_(sorted(topics)))
    return list(await session.scalars(query))


async def newest_id(session: AsyncSession) -> int:
    """The newest event's id, 0 when there is none. A live page reads it *before* its data
    and its client resumes from it, so an event that commits between the page's read and its
    socket's subscription is replayed rather than lost (read after the data, the mark could
    pass an event the data did not include)."""
    return int(await session.scalar(select(func.max(OutboxEvent.id))) or 0)


NOTIFY_CHANNEL = "atelier_events"  # the trigger of migration 0021 notifies it at commit


async def listen(conn: AsyncConnection[Any]) -> None:
    """Have `conn` (autocommit) receive a notification for each client-visible event."""
    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")


async def prune(session: AsyncSession, keep: timedelta, batch: int = 10_000) -> int:
    """Forget dispatched events older than `keep`, the oldest first, `batch` at a time (their
    deliveries go with them). The outbox is the realtime bus's history: a reconnecting
    client resumes at most `keep` back. The cut is found by id (the first event younger than
    `keep`), so each run reads an index range, not the table."""
    first_kept = await session.scalar(
        select(OutboxEvent.id)
        .where(OutboxEvent.created_at >= func.now() - keep)
        .order_by(OutboxEvent.id)
        .limit(1)
    )
    older = (
        OutboxEvent.id < first_kept
        if first_kept is not None
        else OutboxEvent.created_at < func.now() - keep
    )
    doomed = (
        select(OutboxEvent.id)
        .where(older, OutboxEvent.dispatched_at.is_not(None))
        .order_by(OutboxEvent.id)
        .limit(batch)
    )
    result = await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(doomed)))
    return int(getattr(result, "rowcount", 0) or 0)


async def backlog(session: AsyncSession) -> int:
    """Events committed and not yet dispatched to their subscribers."""
    count = await session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    )
    return int(count or 0)
